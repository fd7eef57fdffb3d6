//! Go's `regexp` behaviour over the `regex` crate (the same RE2 language): `FindAll`'s handling
//! of empty matches, `Split`, `ReplaceAll` with `$1` expansion, `QuoteMeta`.

pub(super) fn regex(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|e| {
        format!(
            "error parsing regexp: {}",
            e.to_string().lines().last().unwrap_or("")
        )
    })
}

/// Go's `regexp.Split`.
pub(super) fn regex_split(r: &regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !r.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for m in find_all(r, s, if n < 0 { -1 } else { n }) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = m.0;
        if m.1 != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m.1;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Go's `FindAllStringIndex`: successive non-overlapping matches; an empty match right after a
/// previous match is skipped.
pub(super) fn find_all(r: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    let mut pos = 0;
    while pos <= s.len() && (n < 0 || (out.len() as i64) < n) {
        let Some(m) = r.find_at(s, pos) else { break };
        let (a, b) = (m.start(), m.end());
        let accept = !(a == b && prev_end == Some(a));
        if accept {
            out.push((a, b));
            prev_end = Some(b);
        }
        pos = if b > a {
            b
        } else {
            // advance one character
            match s[a..].chars().next() {
                Some(c) => a + c.len_utf8(),
                None => s.len() + 1,
            }
        };
        if b > a {
            prev_end = Some(b);
        }
    }
    out
}

pub(super) fn regex_quote_meta(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's `ReplaceAllString` / `ReplaceAllLiteralString` (matches as `FindAll` finds them).
pub(super) fn replace_all(r: &regex::Regex, src: &str, repl: &str, literal: bool) -> String {
    let mut out = String::new();
    let mut last = 0;
    for (a, b) in find_all(r, src, -1) {
        out.push_str(&src[last..a]);
        if literal {
            out.push_str(repl);
        } else if let Some(caps) = r.captures_at(src, a) {
            caps.expand(repl, &mut out);
        }
        last = b;
    }
    out.push_str(&src[last..]);
    out
}
