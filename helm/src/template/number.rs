//! Literals of the template language as Go's parser reads them: `strconv.Unquote` for strings
//! and characters, `ParseInt`/`ParseUint`/`ParseFloat` with base prefixes and underscores, and
//! `fmt.Sscan` for complex constants (`parse.NumberNode`).

use super::lex::ItemType;
use super::node::Number;

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals.
pub fn unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(err());
    }
    let q = b[0];
    if q != b[b.len() - 1] {
        return Err(err());
    }
    let inner = &s[1..s.len() - 1];
    match q {
        b'`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' | b'\'' => {
            let mut out = String::new();
            let mut rest = inner;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, q as char)?;
                if q == b'\'' && !out.is_empty() {
                    return Err(err());
                }
                out.push_str(&c);
                rest = tail;
            }
            if q == b'\'' && out.chars().count() != 1 {
                return Err(err());
            }
            Ok(out)
        }
        _ => Err(err()),
    }
}

/// Go's `strconv.UnquoteChar`: the first (possibly escaped) character of `s` and the rest.
/// Returns a string because `\xNN` may be a lone byte (kept as U+FFFD here).
pub fn unquote_char(s: &str, quote: char) -> Result<(String, &str), String> {
    let err = || "invalid syntax".to_string();
    let mut chars = s.chars();
    let c = chars.next().ok_or_else(err)?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err(err());
    }
    if c != '\\' {
        if c == '\n' && quote != '`' {
            // Go allows it in UnquoteChar; the lexer never produces one.
        }
        return Ok((c.to_string(), chars.as_str()));
    }
    let e = chars.next().ok_or_else(err)?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return Err(err());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c.to_string(), rest));
    }
    match e {
        'x' | 'u' | 'U' => {
            let n = match e {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            if rest.len() < n || !rest.is_char_boundary(n) {
                return Err(err());
            }
            let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| err())?;
            if !rest[..n].bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            if e == 'x' {
                // A single byte: valid UTF-8 only below 0x80.
                let c = if v < 0x80 {
                    char::from(v as u8)
                } else {
                    '\u{FFFD}'
                };
                return Ok((c.to_string(), &rest[n..]));
            }
            let c = char::from_u32(v).ok_or_else(err)?;
            Ok((c.to_string(), &rest[n..]))
        }
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2).ok_or_else(err)?);
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(err());
            }
            let v = u32::from_str_radix(&digits, 8).map_err(|_| err())?;
            if v > 255 {
                return Err(err());
            }
            let c = if v < 0x80 {
                char::from(v as u8)
            } else {
                '\u{FFFD}'
            };
            Ok((c.to_string(), &rest[2..]))
        }
        _ => Err(err()),
    }
}

/// Go's `underscoreOK`.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' && matches!(b[i + 1] | 0x20, b'b' | b'o' | b'x') {
        hex = (b[i + 1] | 0x20) == b'x';
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, 0, 64)` / `ParseInt(s, 0, 64)`: the magnitude and sign.
/// `strconv.ParseInt(s, 0, 64)` (with `allow_sign`) or `ParseUint(s, 0, 64)`: sign and magnitude.
pub fn parse_int_base0(s: &str, allow_sign: bool) -> Option<(bool, u64)> {
    let mut t = s;
    let mut neg = false;
    if allow_sign && (t.starts_with('+') || t.starts_with('-')) {
        neg = t.starts_with('-');
        t = &t[1..];
    }
    if t.is_empty() {
        return None;
    }
    let (base, digits) = if t.len() >= 2 && t.as_bytes()[0] == b'0' {
        match t.as_bytes()[1] | 0x20 {
            b'x' => (16, &t[2..]),
            b'o' => (8, &t[2..]),
            b'b' => (2, &t[2..]),
            _ => (8, &t[1..]),
        }
    } else {
        (10, t)
    };
    if t.contains('_') && !underscore_ok(s) {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return if base == 8 && t.len() >= 2 && (t.as_bytes()[1] | 0x20) != b'o' {
            Some((neg, 0))
        } else {
            None
        };
    }
    u64::from_str_radix(&digits, base).ok().map(|v| (neg, v))
}

/// `strconv.ParseFloat(s, 64)` for Go literal syntax (decimal and hexadecimal, underscores);
/// `None` where Go returns an error (syntax, or out of range).
pub fn parse_float(s: &str) -> Option<f64> {
    parse_float_go(s).ok()
}

/// `strconv.ParseFloat(s, 64)` with Go's error text.
fn parse_float_go(s: &str) -> Result<f64, String> {
    let num_err = |what: &str| {
        format!(
            "strconv.ParseFloat: parsing {}: {what}",
            crate::gofmt::quote(s)
        )
    };
    match parse_float_inner(s) {
        None => Err(num_err("invalid syntax")),
        Some(f) if f.is_infinite() && !s.to_ascii_lowercase().contains("inf") => {
            Err(num_err("value out of range"))
        }
        Some(f) => Ok(f),
    }
}

fn parse_float_inner(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity") {
        return Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body == "nan" && !lower.starts_with(['+', '-']) {
        return Some(f64::NAN);
    }
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    let v = if body.len() > 2 && (body.starts_with("0x") || body.starts_with("0X")) {
        parse_hex_float(&body[2..])?
    } else {
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    // Go: "hexadecimal mantissa requires a 'p' exponent".
    let i = s.find(['p', 'P'])?;
    let (mant, exp) = (&s[..i], s[i + 1..].parse::<i32>().ok()?);
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// `fmt.Sscan(text, &complex128)`: Go's token rules (`floatToken`) and errors.
fn sscan_complex(text: &str) -> Result<(f64, f64), String> {
    let b: Vec<char> = text.trim_start().chars().collect();
    let mut i = 0;
    let accept = |i: &mut usize, set: &str| -> bool {
        if *i < b.len() && set.contains(b[*i]) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let float_token = |i: &mut usize| -> String {
        let start = *i;
        if accept(i, "nN") && accept(i, "aA") && accept(i, "nN") {
            return b[start..*i].iter().collect();
        }
        *i = start;
        accept(i, "+-");
        let after_sign = *i;
        if accept(i, "iI") && accept(i, "nN") && accept(i, "fF") {
            return b[start..*i].iter().collect();
        }
        *i = after_sign;
        let mut digits = "0123456789_";
        let mut exp = "eEpP";
        if accept(i, "0") && accept(i, "xX") {
            digits = "0123456789aAbBcCdDeEfF_";
            exp = "pP";
        }
        while accept(i, digits) {}
        if accept(i, ".") {
            while accept(i, digits) {}
        }
        if accept(i, exp) {
            accept(i, "+-");
            while accept(i, "0123456789_") {}
        }
        b[start..*i].iter().collect()
    };
    let err = || "syntax error scanning complex number".to_string();
    let parens = accept(&mut i, "(");
    let real = float_token(&mut i);
    if !accept(&mut i, "+-") {
        return Err(err());
    }
    let sign = b[i - 1];
    let imag = format!("{sign}{}", float_token(&mut i));
    if !accept(&mut i, "i") {
        return Err(err());
    }
    if parens && !accept(&mut i, ")") {
        return Err(err());
    }
    let conv = |s: &str| -> Result<f64, String> {
        if let Some(p) = s.find('p') {
            let m = parse_float_go(&s[..p]).map_err(|_| {
                format!(
                    "strconv.ParseFloat: parsing {}: invalid syntax",
                    crate::gofmt::quote(s)
                )
            })?;
            let e: i32 = s[p + 1..].parse().map_err(|_| {
                format!(
                    "strconv.Atoi: parsing {}: invalid syntax",
                    crate::gofmt::quote(&s[p + 1..])
                )
            })?;
            return Ok(m * 2f64.powi(e));
        }
        parse_float_go(s)
    };
    Ok((conv(&real)?, conv(&imag)?))
}

/// Go's `simplifyComplex`: a complex constant with no imaginary part is also a float (and an
/// integer when integral).
fn simplify_complex(n: &mut Number) {
    n.is_float = n.complex.1 == 0.0;
    if n.is_float {
        let f = n.complex.0;
        n.float64 = f;
        n.is_int = f.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&f);
        if n.is_int {
            n.int64 = f as i64;
        }
        n.is_uint = f.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&f);
        if n.is_uint {
            n.uint64 = f as u64;
        }
    }
}

pub(super) fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int64: 0,
        uint64: 0,
        float64: 0.0,
        complex: (0.0, 0.0),
        text: text.to_string(),
    };
    match typ {
        ItemType::CharConstant => {
            let (c, tail) = unquote_char(&text[1..], '\'')?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            let r = c.chars().next().unwrap_or('\0') as i64;
            n.int64 = r;
            n.is_int = true;
            n.uint64 = r as u64;
            n.is_uint = true;
            n.float64 = r as f64;
            n.is_float = true;
            return Ok(n);
        }
        ItemType::Complex => {
            let (re, im) = sscan_complex(text)?;
            n.is_complex = true;
            n.complex = (re, im);
            simplify_complex(&mut n);
            return Ok(n);
        }
        _ => {}
    }
    if let Some(stripped) = text.strip_suffix('i')
        && let Some(f) = parse_float(stripped)
    {
        n.is_complex = true;
        n.complex = (0.0, f);
        simplify_complex(&mut n);
        return Ok(n);
    }
    let u = parse_int_base0(text, false);
    if let Some((_, u)) = u {
        n.is_uint = true;
        n.uint64 = u;
    }
    if let Some((neg, mag)) = parse_int_base0(text, true) {
        let i = if neg {
            if mag <= i64::MAX as u64 + 1 {
                Some((mag as i64).wrapping_neg())
            } else {
                None
            }
        } else if mag <= i64::MAX as u64 {
            Some(mag as i64)
        } else {
            None
        };
        if let Some(i) = i {
            n.is_int = true;
            n.int64 = i;
            if i == 0 {
                n.is_uint = true;
                n.uint64 = 0;
            }
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float64 = n.int64 as f64;
    } else if n.is_uint {
        n.is_float = true;
        n.float64 = n.uint64 as f64;
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        n.is_float = true;
        n.float64 = f;
        if f.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&f) {
            n.is_int = true;
            n.int64 = f as i64;
        }
        if f.fract() == 0.0 && (0.0..1.8446744073709552e19).contains(&f) {
            n.is_uint = true;
            n.uint64 = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text)
        ));
    }
    Ok(n)
}
