//! Emulation of the Go standard library behaviours that shape kustomize's output:
//! `strconv.ParseInt(s, 0, 64)` syntax, `strconv.FormatFloat(f, 'g', -1, 64)`,
//! `encoding/json` float text, `time.Parse` for YAML timestamps, and go-yaml v2's
//! "natural" map-key order.

use std::cmp::Ordering;

/// Parses an integer with Go's base-0 syntax (`0x`, `0o`, `0b`, leading-`0` octal, decimal),
/// with an optional sign. Returns `None` when the text is not such a literal; values that do not
/// fit 128 bits are reported as `Some(None)` (syntactically valid, out of range).
pub fn go_parse_int(s: &str) -> Option<Option<i128>> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mut v: Option<i128> = Some(0);
    for c in digits.chars() {
        let d = i128::from(c.to_digit(radix).unwrap_or(0));
        v = v
            .and_then(|v| v.checked_mul(i128::from(radix)))
            .and_then(|v| v.checked_add(d));
    }
    Some(v.map(|v| if neg { -v } else { v }))
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms YAML cares about.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if !t.bytes().all(|c| {
        c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E' || c == b'+' || c == b'-'
    }) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Shortest decimal digits and decimal-point position of a finite, non-zero `f`:
/// `f = 0.d1d2d3... * 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    (digits, exp + 1)
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, with go-yaml's spelling of the infinities.
pub fn go_format_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let neg = f < 0.0;
    let (digs, dp) = shortest_digits(f);
    let nd = digs.len() as i32;
    let exp = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digs[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digs[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let ea = exp.abs();
        if ea < 10 {
            out.push('0');
        }
        out.push_str(&ea.to_string());
    } else {
        push_fixed(&mut out, &digs, dp);
    }
    out
}

fn push_fixed(out: &mut String, digs: &str, dp: i32) {
    let nd = digs.len() as i32;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(digs);
    } else if dp >= nd {
        out.push_str(digs);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        out.push_str(&digs[..dp as usize]);
        out.push('.');
        out.push_str(&digs[dp as usize..]);
    }
}

/// The text a float takes after kustomize's round trip: Go's `json.Marshal` writes it, and
/// go-yaml v2 reads that text back as an int when it can and as a float otherwise.
pub fn float_after_json_roundtrip(f: f64) -> String {
    let abs = f.abs();
    // encoding/json: 'e' format for very small or very large magnitudes, 'f' otherwise.
    let json_is_integer_text = f.fract() == 0.0 && abs < 1e21;
    if json_is_integer_text {
        if f == 0.0 {
            return "0".into();
        }
        let (digs, dp) = shortest_digits(f);
        let mut s = String::new();
        push_fixed(&mut s, &digs, dp);
        // v2 reads it back through ParseInt/ParseUint; past 64 bits it becomes a float again.
        let fits = if f < 0.0 {
            f >= -9.223_372_036_854_776e18
        } else {
            f < 1.844_674_407_370_955_2e19
        };
        if fits {
            return if f < 0.0 { format!("-{s}") } else { s };
        }
    }
    go_format_float_g(f)
}

/// go-yaml v2's `keyList.Less` for string keys: letters before non-letters, runs of digits
/// compared as numbers.
pub fn v2_key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Ordering built on [`v2_key_less`], for sorting.
pub fn v2_key_cmp(a: &str, b: &str) -> Ordering {
    if v2_key_less(a, b) {
        Ordering::Less
    } else if v2_key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// A parsed YAML timestamp (one of the layouts go-yaml accepts).
struct Timestamp {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    /// Offset east of UTC in seconds.
    offset: i32,
}

fn take_num(s: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let st = *i;
    while *i < s.len() && *i - st < max && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - st < min {
        return None;
    }
    std::str::from_utf8(&s[st..*i]).ok()?.parse().ok()
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    i = i.max(5);
    let month = take_num(b, &mut i, 1, 2)?;
    if i >= b.len() || b[i] != b'-' {
        return None;
    }
    i += 1;
    let day = take_num(b, &mut i, 1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ts = Timestamp {
        year,
        month,
        day,
        hour: 0,
        min: 0,
        sec: 0,
        nanos: 0,
        offset: 0,
    };
    if i == b.len() {
        return Some(ts);
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    i += 1;
    ts.hour = take_num(b, &mut i, 1, 2)?;
    if i >= b.len() || b[i] != b':' {
        return None;
    }
    i += 1;
    ts.min = take_num(b, &mut i, 1, 2)?;
    if i >= b.len() || b[i] != b':' {
        return None;
    }
    i += 1;
    ts.sec = take_num(b, &mut i, 1, 2)?;
    if ts.hour > 23 || ts.min > 59 || ts.sec > 59 {
        return None;
    }
    if i + 1 < b.len() && (b[i] == b'.' || b[i] == b',') && b[i + 1].is_ascii_digit() {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let mut frac: String = s[st..i].chars().take(9).collect();
        while frac.len() < 9 {
            frac.push('0');
        }
        ts.nanos = frac.parse().ok()?;
    }
    if sep == b' ' {
        return if i == b.len() { Some(ts) } else { None };
    }
    if i >= b.len() {
        return None;
    }
    if b[i] == b'Z' {
        i += 1;
    } else if b[i] == b'+' || b[i] == b'-' {
        let neg = b[i] == b'-';
        i += 1;
        if i + 5 > b.len() || b[i + 2] != b':' {
            return None;
        }
        let mut j = i;
        let hh = take_num(b, &mut j, 2, 2)?;
        j += 1;
        let mm = take_num(b, &mut j, 2, 2)?;
        if hh > 24 || mm > 59 {
            return None;
        }
        i = j;
        let off = (hh * 3600 + mm * 60) as i32;
        ts.offset = if neg { -off } else { off };
    } else {
        return None;
    }
    if i == b.len() { Some(ts) } else { None }
}

/// Whether go-yaml would read the plain scalar `s` as a timestamp.
pub fn is_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
}

/// A plain YAML timestamp as go-yaml v3 decodes it and `encoding/json` then writes it
/// (RFC 3339 with nanoseconds, trailing zeros trimmed).
pub fn timestamp_rfc3339nano(s: &str) -> Option<String> {
    let t = parse_timestamp(s)?;
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.min, t.sec
    );
    if t.nanos != 0 {
        let f = format!("{:09}", t.nanos);
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    if t.offset == 0 {
        out.push('Z');
    } else {
        let a = t.offset.abs();
        out.push_str(&format!(
            "{}{:02}:{:02}",
            if t.offset < 0 { '-' } else { '+' },
            a / 3600,
            (a % 3600) / 60
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formats_match_go() {
        assert_eq!(go_format_float_g(123456.5), "123456.5");
        assert_eq!(go_format_float_g(1234567.5), "1.2345675e+06");
        assert_eq!(go_format_float_g(1e-7), "1e-07");
        assert_eq!(go_format_float_g(1e23), "1e+23");
        assert_eq!(float_after_json_roundtrip(1.0), "1");
        assert_eq!(float_after_json_roundtrip(1.5e10), "15000000000");
        assert_eq!(float_after_json_roundtrip(0.5), "0.5");
        assert_eq!(
            float_after_json_roundtrip(1.2345678901234569e23),
            "1.2345678901234569e+23"
        );
    }

    #[test]
    fn key_order_is_natural() {
        let mut v = vec!["a10", "a9", "a09", "A1", "_x", "1"];
        v.sort_by(|a, b| v2_key_cmp(a, b));
        assert_eq!(v, vec!["_x", "1", "A1", "a9", "a09", "a10"]);
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp_rfc3339nano("2024-01-01").as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            timestamp_rfc3339nano("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert!(timestamp_rfc3339nano("2001-02-30").is_none());
    }
}
