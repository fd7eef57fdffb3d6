//! More of Sprig: string utilities (goutils, xstrings), numbers, defaults and JSON, dicts,
//! regular expressions, paths, encodings and hashes.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::json::{self, Style};
use super::{deep_equal, empty, get_map, reg, s, strings, strslice, strval, to_float64, to_int64};
use crate::gofmt;
use crate::template::Templates;
use crate::value::{Type, Value};

fn int(v: &Value) -> i64 {
    to_int64(v)
}

fn go_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// goutils.AbbreviateFull.
fn abbreviate_full(s: &str, mut offset: i64, max: i64) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    if max < 4 {
        return Err("stringutils illegal argument: Minimum abbreviation width is 4".into());
    }
    let l = s.len() as i64;
    if l <= max {
        return Ok(s.to_string());
    }
    if offset > l {
        offset = l;
    }
    if l - offset < max - 3 {
        offset = l - (max - 3);
    }
    let b = |a: i64, e: i64| {
        String::from_utf8_lossy(&s.as_bytes()[a as usize..e as usize]).into_owned()
    };
    if offset <= 4 {
        return Ok(format!("{}...", b(0, max - 3)));
    }
    if max < 7 {
        return Err(
            "stringutils illegal argument: Minimum abbreviation width with offset is 7".into(),
        );
    }
    if offset + max - 3 < l {
        let rest = abbreviate_full(&b(offset, l), 0, max - 3)?;
        return Ok(format!("...{rest}"));
    }
    Ok(format!("...{}", b(l - (max - 3), l)))
}

/// goutils.WrapCustom.
fn wrap_custom(s: &str, mut width: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    if width < 1 {
        width = 1;
    }
    let b = s.as_bytes();
    let sub = |a: usize, e: usize| String::from_utf8_lossy(&b[a..e]).into_owned();
    let len = b.len() as i64;
    let mut offset: i64 = 0;
    let mut out = String::new();
    while len - offset > width {
        if b[offset as usize] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len) as usize;
        let space = sub(offset as usize, end)
            .rfind(' ')
            .map(|i| i as i64 + offset)
            .unwrap_or(offset - 1);
        if space >= offset {
            out.push_str(&sub(offset as usize, space as usize));
            out.push_str(nl);
            offset = space + 1;
        } else if long_words {
            let end = (width + offset) as usize;
            out.push_str(&sub(offset as usize, end));
            out.push_str(nl);
            offset += width;
        } else {
            let end = (width + offset) as usize;
            match sub(end, b.len()).find(' ') {
                None => {
                    out.push_str(&sub(offset as usize, b.len()));
                    offset = len;
                }
                Some(i) => {
                    let space = i + end;
                    out.push_str(&sub(offset as usize, space));
                    out.push_str(nl);
                    offset = space as i64 + 1;
                }
            }
        }
    }
    out.push_str(&sub(offset as usize, b.len()));
    out
}

/// xstrings.ToPascalCase (Sprig's `camelcase`).
fn pascal_case(s: &str) -> String {
    let is_conn = |c: char| c == '-' || c == '_' || go_is_space(c);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut r0 = '\0';
    let mut first_upper = false;
    let mut got = false;
    for c in chars.by_ref() {
        if !is_conn(c) {
            first_upper = c.is_uppercase();
            r0 = c.to_uppercase().next().unwrap_or(c);
            got = true;
            break;
        }
        out.push(c);
    }
    if !got {
        return out;
    }
    if chars.peek().is_none() {
        out.push(r0);
        return out;
    }
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_conn(r0) && is_conn(r1) {
            out.push(r1);
            continue;
        }
        if is_conn(r1) {
            first_upper = r0.is_uppercase();
            r0 = r0.to_uppercase().next().unwrap_or(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = r0.to_lowercase().next().unwrap_or(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

fn swapcase(s: &str) -> String {
    let mut ws = true;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
            ws = false;
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
            ws = false;
        } else {
            out.push(c);
            ws = go_is_space(c);
        }
    }
    let _ = ws;
    out
}

/// path.Clean.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    path_clean(&p[..i])
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((n >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let err = |i: usize| format!("illegal base32 data at input byte {i}");
    if !b.len().is_multiple_of(8) {
        // Go reports the first bad position; for short input, the end of the last full block.
        for (i, c) in b.iter().enumerate() {
            if !B32.contains(c) && *c != b'=' {
                return Err(err(i));
            }
        }
        return Err(err(b.len() / 8 * 8));
    }
    for (ci, chunk) in b.chunks(8).enumerate() {
        let mut n: u64 = 0;
        let mut chars = 0;
        for (j, c) in chunk.iter().enumerate() {
            if *c == b'=' {
                break;
            }
            let v = B32
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| err(ci * 8 + j))?;
            n |= (v as u64) << (35 - 5 * j);
            chars += 1;
        }
        let bytes = match chars {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => return Err(err(ci * 8 + chars)),
        };
        let full = n.to_be_bytes();
        out.extend_from_slice(&full[3..3 + bytes]);
    }
    Ok(out)
}

/// Deep copy (copystructure.Copy).
pub fn deep_copy(v: &Value) -> Value {
    match v {
        Value::Slice(s) => Value::Slice(Rc::new(crate::value::Slice {
            elem: s.elem.clone(),
            items: s.items.iter().map(deep_copy).collect(),
            nil: s.nil,
        })),
        Value::Map(m) => {
            let m = m.borrow();
            let entries = m
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), deep_copy(v)))
                .collect();
            Value::Map(Rc::new(std::cell::RefCell::new(crate::value::Map {
                elem: m.elem.clone(),
                entries,
                name: m.name.clone(),
            })))
        }
        v => v.clone(),
    }
}

/// mergo.MergeWithOverwrite for maps.
fn merge_overwrite(dst: &Value, src: &Value) {
    let (Value::Map(d), Value::Map(sm)) = (dst, src) else {
        return;
    };
    if Rc::ptr_eq(d, sm) {
        return;
    }
    let src_entries: Vec<(String, Value)> = sm
        .borrow()
        .entries
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, sv) in src_entries {
        let dv = d.borrow().entries.get(&k).cloned();
        match (dv, &sv) {
            (Some(dv @ Value::Map(_)), Value::Map(_)) => merge_overwrite(&dv, &sv),
            _ => {
                d.borrow_mut().entries.insert(k, sv);
            }
        }
    }
}

fn regex(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|e| {
        format!(
            "error parsing regexp: {}",
            e.to_string().lines().last().unwrap_or("")
        )
    })
}

/// Go's `regexp.Split`.
fn regex_split(r: &regex::Regex, s: &str, n: i64) -> Vec<String> {
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
fn find_all(r: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
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

fn regex_quote_meta(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// shopspring/decimal arithmetic as Sprig's `addf` … use it: exact decimal operations on the
/// shortest decimal forms of the operands, division to 16 places.
fn decimal_op(a: f64, rest: &[f64], op: char) -> f64 {
    // Represent as (mantissa i128, exponent): value = m * 10^e.
    fn dec(f: f64) -> (i128, i32) {
        if f == 0.0 {
            return (0, 0);
        }
        let s = format!("{:e}", f);
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let neg = m.starts_with('-');
        let m = m.trim_start_matches('-');
        let (int, frac) = m.split_once('.').unwrap_or((m, ""));
        let digits = format!("{int}{frac}");
        let v: i128 = digits.parse().unwrap_or(0);
        (if neg { -v } else { v }, e - frac.len() as i32)
    }
    fn align(a: (i128, i32), b: (i128, i32)) -> (i128, i128, i32) {
        let e = a.1.min(b.1);
        let sa =
            a.0.checked_mul(10i128.pow((a.1 - e) as u32))
                .unwrap_or(i128::MAX);
        let sb =
            b.0.checked_mul(10i128.pow((b.1 - e) as u32))
                .unwrap_or(i128::MAX);
        (sa, sb, e)
    }
    fn to_f(d: (i128, i32)) -> f64 {
        format!("{}e{}", d.0, d.1).parse().unwrap_or(0.0)
    }
    let mut acc = dec(a);
    for x in rest {
        let b = dec(*x);
        acc = match op {
            '+' => {
                let (p, q, e) = align(acc, b);
                (p.saturating_add(q), e)
            }
            '-' => {
                let (p, q, e) = align(acc, b);
                (p.saturating_sub(q), e)
            }
            '*' => (acc.0.saturating_mul(b.0), acc.1 + b.1),
            _ => {
                if b.0 == 0 {
                    return f64::NAN;
                }
                // DivisionPrecision 16: round half away from zero (decimal's Div rounding).
                let q = to_f(acc) / to_f(b);
                let scale = 10f64.powi(16);
                let r = (q * scale).round() / scale;
                dec(r)
            }
        };
    }
    to_f(acc)
}

fn seq_str(v: &[i64]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut i = start;
        while i > stop {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut i = start;
    while i < stop {
        v.push(i);
        i += step;
    }
    v
}

fn ints(v: Vec<i64>) -> Value {
    Value::typed_slice(Type::Int, v.into_iter().map(Value::Int).collect())
}

pub(super) fn add(t: &mut Templates) {
    use Type::{Bool, Float64, Int, Int64, Interface as Any, String as Str};
    let am = Type::any_map;
    let strs_t = || Type::Slice(Rc::new(Str));
    // Strings.
    reg(t, "hello", vec![], None, Str, |_| Ok("Hello!".into()));
    reg(t, "abbrev", vec![Int, Str], None, Str, |a| {
        let w = int(&a[0]);
        if w < 4 {
            return Ok(a[1].clone());
        }
        Ok(abbreviate_full(s(&a[1]), 0, w).unwrap_or_default().into())
    });
    reg(t, "abbrevboth", vec![Int, Int, Str], None, Str, |a| {
        let (l, r) = (int(&a[0]), int(&a[1]));
        if r < 4 || (l > 0 && r < 7) {
            return Ok(a[2].clone());
        }
        Ok(abbreviate_full(s(&a[2]), l, r).unwrap_or_default().into())
    });
    reg(t, "initials", vec![Str], None, Str, |a| {
        let mut out = String::new();
        let mut gap = true;
        for b in s(&a[0]).bytes() {
            let c = b as char;
            if go_is_space(c) {
                gap = true;
            } else if gap {
                out.push(c);
                gap = false;
            }
        }
        Ok(out.into())
    });
    reg(t, "untitle", vec![Str], None, Str, |a| {
        let mut out = String::new();
        let mut next = true;
        for c in s(&a[0]).chars() {
            if go_is_space(c) {
                next = true;
                out.push(c);
            } else if next {
                out.extend(c.to_lowercase());
                next = false;
            } else {
                out.push(c);
            }
        }
        Ok(out.into())
    });
    reg(t, "swapcase", vec![Str], None, Str, |a| {
        Ok(swapcase(s(&a[0])).into())
    });
    reg(t, "camelcase", vec![Str], None, Str, |a| {
        Ok(pascal_case(s(&a[0])).into())
    });
    reg(t, "substr", vec![Int, Int, Str], None, Str, |a| {
        let (st, en, v) = (int(&a[0]), int(&a[1]), s(&a[2]).as_bytes());
        let l = v.len() as i64;
        let (x, y) = if st < 0 {
            (0, en)
        } else if en < 0 || en > l {
            (st, l)
        } else {
            (st, en)
        };
        if x < 0 || y < x || y > l {
            return Err(format!(
                "runtime error: slice bounds out of range [{x}:{y}]"
            ));
        }
        Ok(String::from_utf8_lossy(&v[x as usize..y as usize])
            .into_owned()
            .into())
    });
    reg(t, "plural", vec![Str, Str, Int], None, Str, |a| {
        Ok(if int(&a[2]) == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    reg(
        t,
        "splitn",
        vec![Str, Int, Str],
        None,
        Type::Map(Rc::new(Str)),
        |a| {
            let (sep, n, v) = (s(&a[0]), int(&a[1]), s(&a[2]));
            let parts: Vec<String> = if n == 0 {
                Vec::new()
            } else if n < 0 {
                if sep.is_empty() {
                    v.chars().map(String::from).collect()
                } else {
                    v.split(sep).map(String::from).collect()
                }
            } else if sep.is_empty() {
                let mut p: Vec<String> = v.chars().take(n as usize - 1).map(String::from).collect();
                let used: usize = p.iter().map(|x| x.len()).sum();
                if used < v.len() {
                    p.push(v[used..].to_string());
                }
                p
            } else {
                v.splitn(n as usize, sep).map(String::from).collect()
            };
            let m: BTreeMap<String, Value> = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect();
            Ok(Value::typed_map(Str, m))
        },
    );
    reg(t, "toStrings", vec![Any], None, strs_t(), |a| {
        Ok(strings(strslice(&a[0])))
    });
    reg(t, "wrap", vec![Int, Str], None, Str, |a| {
        Ok(wrap_custom(s(&a[1]), int(&a[0]), "", false).into())
    });
    reg(t, "wrapWith", vec![Int, Str, Str], None, Str, |a| {
        Ok(wrap_custom(s(&a[2]), int(&a[0]), s(&a[1]), true).into())
    });
    reg(t, "trimall", vec![Str, Str], None, Str, |a| {
        let cut: Vec<char> = s(&a[0]).chars().collect();
        Ok(s(&a[1])
            .trim_matches(|c| cut.contains(&c))
            .to_string()
            .into())
    });
    reg(t, "b32enc", vec![Str], None, Str, |a| {
        Ok(b32enc(s(&a[0]).as_bytes()).into())
    });
    reg(t, "b32dec", vec![Str], None, Str, |a| {
        Ok(match b32dec(s(&a[0])) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned().into(),
            Err(e) => e.into(),
        })
    });
    reg(t, "sha1sum", vec![Str], None, Str, |a| {
        Ok(hex(&sha1(s(&a[0]).as_bytes())).into())
    });
    reg(t, "sha512sum", vec![Str], None, Str, |a| {
        use sha2::Digest;
        Ok(hex(&sha2::Sha512::digest(s(&a[0]).as_bytes())).into())
    });
    reg(t, "adler32sum", vec![Str], None, Str, |a| {
        let (mut x, mut y) = (1u32, 0u32);
        for b in s(&a[0]).bytes() {
            x = (x + b as u32) % 65521;
            y = (y + x) % 65521;
        }
        Ok(((y << 16) | x).to_string().into())
    });
    // Paths.
    reg(t, "base", vec![Str], None, Str, |a| {
        Ok(path_base(s(&a[0])).into())
    });
    reg(t, "dir", vec![Str], None, Str, |a| {
        Ok(path_dir(s(&a[0])).into())
    });
    reg(t, "clean", vec![Str], None, Str, |a| {
        Ok(path_clean(s(&a[0])).into())
    });
    reg(t, "ext", vec![Str], None, Str, |a| {
        Ok(path_ext(s(&a[0])).into())
    });
    reg(t, "isAbs", vec![Str], None, Bool, |a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    reg(t, "osBase", vec![Str], None, Str, |a| {
        Ok(path_base(s(&a[0])).into())
    });
    reg(t, "osDir", vec![Str], None, Str, |a| {
        Ok(path_dir(s(&a[0])).into())
    });
    reg(t, "osClean", vec![Str], None, Str, |a| {
        Ok(path_clean(s(&a[0])).into())
    });
    reg(t, "osExt", vec![Str], None, Str, |a| {
        Ok(path_ext(s(&a[0])).into())
    });
    reg(t, "osIsAbs", vec![Str], None, Bool, |a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    // Numbers.
    reg(t, "biggest", vec![Any], Some(Any), Int64, |a| {
        Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    reg(t, "maxf", vec![Any], Some(Any), Float64, |a| {
        Ok(Value::Float64(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), f64::max),
        ))
    });
    reg(t, "minf", vec![Any], Some(Any), Float64, |a| {
        Ok(Value::Float64(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), f64::min),
        ))
    });
    reg(t, "floor", vec![Any], None, Float64, |a| {
        Ok(Value::Float64(to_float64(&a[0]).floor()))
    });
    reg(t, "ceil", vec![Any], None, Float64, |a| {
        Ok(Value::Float64(to_float64(&a[0]).ceil()))
    });
    reg(t, "round", vec![Any, Int], Some(Float64), Float64, |a| {
        let round_on = a.get(2).map(to_float64).unwrap_or(0.5);
        let val = to_float64(&a[0]);
        let pow = 10f64.powf(int(&a[1]) as f64);
        let digit = pow * val;
        let div = digit.fract();
        let r = if div >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float64(r / pow))
    });
    reg(t, "toDecimal", vec![Any], None, Int64, |a| {
        let v = gofmt::sprint(&a[..1]);
        Ok(Value::Int64(i64::from_str_radix(&v, 8).unwrap_or(0)))
    });
    reg(
        t,
        "until",
        vec![Int],
        None,
        Type::Slice(Rc::new(Int)),
        |a| {
            let n = int(&a[0]);
            Ok(ints(until_step(0, n, if n < 0 { -1 } else { 1 })))
        },
    );
    reg(
        t,
        "untilStep",
        vec![Int, Int, Int],
        None,
        Type::Slice(Rc::new(Int)),
        |a| Ok(ints(until_step(int(&a[0]), int(&a[1]), int(&a[2])))),
    );
    reg(t, "seq", vec![], Some(Int), Str, |a| {
        let p: Vec<i64> = a.iter().map(int).collect();
        Ok(match p.len() {
            1 => {
                let (start, end) = (1, p[0]);
                let inc = if end < start { -1 } else { 1 };
                seq_str(&until_step(start, end + inc, inc))
            }
            2 => {
                let (start, end) = (p[0], p[1]);
                let step = if end < start { -1 } else { 1 };
                seq_str(&until_step(start, end + step, step))
            }
            3 => {
                let (start, step, end) = (p[0], p[1], p[2]);
                let mut inc = 1;
                if end < start {
                    inc = -1;
                    if step > 0 {
                        return Ok("".into());
                    }
                }
                seq_str(&until_step(start, end + inc, step))
            }
            _ => String::new(),
        }
        .into())
    });
    reg(t, "add1f", vec![Any], None, Float64, |a| {
        Ok(Value::Float64(decimal_op(to_float64(&a[0]), &[1.0], '+')))
    });
    reg(t, "addf", vec![], Some(Any), Float64, |a| {
        let v: Vec<f64> = a.iter().map(to_float64).collect();
        Ok(Value::Float64(decimal_op(0.0, &v, '+')))
    });
    for (name, op) in [("subf", '-'), ("mulf", '*'), ("divf", '/')] {
        let f: fn(Vec<Value>) -> Result<Value, String> = match op {
            '-' => |a| {
                Ok(Value::Float64(decimal_op(
                    to_float64(&a[0]),
                    &a[1..].iter().map(to_float64).collect::<Vec<_>>(),
                    '-',
                )))
            },
            '*' => |a| {
                Ok(Value::Float64(decimal_op(
                    to_float64(&a[0]),
                    &a[1..].iter().map(to_float64).collect::<Vec<_>>(),
                    '*',
                )))
            },
            _ => |a| {
                Ok(Value::Float64(decimal_op(
                    to_float64(&a[0]),
                    &a[1..].iter().map(to_float64).collect::<Vec<_>>(),
                    '/',
                )))
            },
        };
        reg(t, name, vec![Any], Some(Any), Float64, f);
    }
    // Defaults, JSON, reflection.
    reg(t, "all", vec![], Some(Any), Bool, |a| {
        Ok(Value::Bool(a.iter().all(|v| !empty(v))))
    });
    reg(t, "any", vec![], Some(Any), Bool, |a| {
        Ok(Value::Bool(a.iter().any(|v| !empty(v))))
    });
    reg(t, "fromJson", vec![Str], None, Any, |a| {
        Ok(from_json(s(&a[0])).unwrap_or(Value::Nil))
    });
    reg(t, "mustFromJson", vec![Str], None, Any, |a| {
        from_json(s(&a[0]))
    });
    let pretty = Style {
        indent: Some("  "),
        html: true,
    };
    let raw = Style {
        indent: None,
        html: false,
    };
    let _ = (pretty, raw);
    reg(t, "toPrettyJson", vec![Any], None, Str, |a| {
        Ok(json::encode(
            &a[0],
            Style {
                indent: Some("  "),
                html: true,
            },
        )
        .unwrap_or_default()
        .into())
    });
    reg(t, "toRawJson", vec![Any], None, Str, |a| {
        Ok(json::encode(
            &a[0],
            Style {
                indent: None,
                html: false,
            },
        )?
        .into())
    });
    reg(t, "mustToJson", vec![Any], None, Str, |a| {
        Ok(json::encode(&a[0], json::MARSHAL)?.into())
    });
    reg(t, "mustToPrettyJson", vec![Any], None, Str, |a| {
        Ok(json::encode(
            &a[0],
            Style {
                indent: Some("  "),
                html: true,
            },
        )?
        .into())
    });
    reg(t, "mustToRawJson", vec![Any], None, Str, |a| {
        Ok(json::encode(
            &a[0],
            Style {
                indent: None,
                html: false,
            },
        )?
        .into())
    });
    reg(t, "typeIsLike", vec![Str, Any], None, Bool, |a| {
        let ty = gofmt::sprintf("%T", &a[1..2]);
        Ok(Value::Bool(
            ty == s(&a[0]) || ty == format!("*{}", s(&a[0])),
        ))
    });
    reg(t, "deepEqual", vec![Any, Any], None, Bool, |a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
    reg(t, "fail", vec![Str], None, Str, |a| {
        Err(s(&a[0]).to_string())
    });
    // Dicts.
    reg(t, "pluck", vec![Str], Some(am()), Type::any_slice(), |a| {
        let mut res = Vec::new();
        for d in &a[1..] {
            if let Some(m) = get_map(d)
                && let Some(v) = m.borrow().entries.get(s(&a[0]))
            {
                res.push(v.clone());
            }
        }
        Ok(Value::list(res))
    });
    reg(t, "pick", vec![am()], Some(Str), am(), |a| {
        let m = get_map(&a[0]).ok_or("pick of non-map")?;
        let m = m.borrow();
        let res: BTreeMap<String, Value> = a[1..]
            .iter()
            .filter_map(|k| m.entries.get(s(k)).map(|v| (s(k).to_string(), v.clone())))
            .collect();
        Ok(Value::dict(res))
    });
    reg(t, "omit", vec![am()], Some(Str), am(), |a| {
        let m = get_map(&a[0]).ok_or("omit of non-map")?;
        let omit: Vec<&str> = a[1..].iter().map(s).collect();
        let res: BTreeMap<String, Value> = m
            .borrow()
            .entries
            .iter()
            .filter(|(k, _)| !omit.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Value::dict(res))
    });
    reg(t, "values", vec![am()], None, Type::any_slice(), |a| {
        // Go's map order is random; charts sort the result.
        let m = get_map(&a[0]).ok_or("values of non-map")?;
        Ok(Value::list(m.borrow().entries.values().cloned().collect()))
    });
    reg(t, "dig", vec![], Some(Any), Any, |a| {
        if a.len() < 3 {
            return Err("dig needs at least three arguments".into());
        }
        let n = a.len();
        let type_err = |v: &Value, want: &str| {
            format!(
                "interface conversion: interface {{}} is {}, not {want}",
                if v.is_nil() {
                    "nil".to_string()
                } else {
                    v.type_name()
                }
            )
        };
        let mut dict = match &a[n - 1] {
            v @ Value::Map(m) if v.assignable_to(&Type::any_map()) => m.clone(),
            v => return Err(type_err(v, "map[string]interface {}")),
        };
        let def = a[n - 2].clone();
        let mut keys = Vec::new();
        for k in &a[..n - 2] {
            match k {
                Value::String(s) => keys.push(s.to_string()),
                v => return Err(type_err(v, "string")),
            }
        }
        for (i, k) in keys.iter().enumerate() {
            let step = dict.borrow().entries.get(k).cloned();
            let Some(step) = step else { return Ok(def) };
            if i == keys.len() - 1 {
                return Ok(step);
            }
            dict = match &step {
                v @ Value::Map(m) if v.assignable_to(&Type::any_map()) => m.clone(),
                v => return Err(type_err(v, "map[string]interface {}")),
            };
        }
        Ok(def)
    });
    for name in ["deepCopy", "mustDeepCopy"] {
        reg(t, name, vec![Any], None, Any, |a| Ok(deep_copy(&a[0])));
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        reg(t, name, vec![am()], Some(am()), Any, |a| {
            for src in &a[1..] {
                merge_overwrite(&a[0], src);
            }
            Ok(a[0].clone())
        });
    }
    reg(t, "mustMerge", vec![am()], Some(am()), Any, |a| {
        for src in &a[1..] {
            super::merge_into(&a[0], src);
        }
        Ok(a[0].clone())
    });
    // Regular expressions (Go's RE2 syntax; the `regex` crate implements the same language).
    for (name, must) in [("regexMatch", false), ("mustRegexMatch", true)] {
        let f: fn(Vec<Value>) -> Result<Value, String> = if must {
            |a| Ok(Value::Bool(regex(s(&a[0]))?.is_match(s(&a[1]))))
        } else {
            |a| {
                Ok(Value::Bool(
                    regex(s(&a[0]))
                        .map(|r| r.is_match(s(&a[1])))
                        .unwrap_or(false),
                ))
            }
        };
        reg(t, name, vec![Str, Str], None, Bool, f);
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        reg(t, name, vec![Str, Str, Int], None, strs_t(), |a| {
            let r = regex(s(&a[0]))?;
            let v = s(&a[1]);
            let found: Vec<String> = find_all(&r, v, int(&a[2]))
                .into_iter()
                .map(|(x, y)| v[x..y].to_string())
                .collect();
            if found.is_empty() {
                return Ok(Type::Slice(Rc::new(Str)).zero());
            }
            Ok(strings(found))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        reg(t, name, vec![Str, Str], None, Str, |a| {
            let r = regex(s(&a[0]))?;
            Ok(r.find(s(&a[1]))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default()
                .into())
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        reg(t, name, vec![Str, Str, Str], None, Str, |a| {
            let r = regex(s(&a[0]))?;
            Ok(replace_all(&r, s(&a[1]), s(&a[2]), false).into())
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        reg(t, name, vec![Str, Str, Str], None, Str, |a| {
            let r = regex(s(&a[0]))?;
            Ok(replace_all(&r, s(&a[1]), s(&a[2]), true).into())
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        reg(t, name, vec![Str, Str, Int], None, strs_t(), |a| {
            let r = regex(s(&a[0]))?;
            Ok(strings(regex_split(&r, s(&a[1]), int(&a[2]))))
        });
    }
    reg(t, "regexQuoteMeta", vec![Str], None, Str, |a| {
        Ok(regex_quote_meta(s(&a[0])).into())
    });
    let _ = strval;
}

/// Go's `ReplaceAllString` / `ReplaceAllLiteralString` (matches as `FindAll` finds them).
fn replace_all(r: &regex::Regex, src: &str, repl: &str, literal: bool) -> String {
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

/// `json.Unmarshal` into `interface {}`.
fn from_json(text: &str) -> Result<Value, String> {
    let j: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            e.to_string()
        }
    })?;
    Ok(Value::from_json(&j))
}
