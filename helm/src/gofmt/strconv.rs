//! The `strconv` pieces Go's `fmt` rests on: quoting (`Quote`, `QuoteRune`, `CanBackquote`),
//! `unicode.IsPrint`, and `FormatFloat`.

use super::{LDIGITS, UDIGITS};

/// Go's conversion of a float64 to int64 on amd64: out of range (and NaN) gives the "integer
/// indefinite" value, `math.MinInt64`.
pub fn go_f64_to_i64(f: f64) -> i64 {
    if f.is_nan() || !(-9.223372036854776e18..9.223372036854776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Go's `unicode.IsPrint`, closely enough for template text: letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || u == 0x7f || (0x80..0xa0).contains(&u) {
        return false;
    }
    if u < 0x7f {
        return true;
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    !matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
        | 0xF0000..=0x10FFFF | 0xFFFE | 0xFFFF)
}

/// `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// `strconv.Quote` with the given quote character (`QuoteToASCII` when `ascii`).
pub(super) fn quote_with(s: &str, q: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        append_escaped_rune(&mut out, c, q, ascii);
    }
    out.push(q);
    out
}

fn append_escaped_rune(out: &mut String, c: char, q: char, ascii: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii {
        if (c as u32) < 0x80 && is_print(c) {
            out.push(c);
            return;
        }
    } else if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ => {
            let u = c as u32;
            if u < 0x20 || u == 0x7f {
                out.push_str(&format!("\\x{u:02x}"));
            } else if u < 0x10000 {
                out.push_str(&format!("\\u{u:04x}"));
            } else {
                out.push_str(&format!("\\U{u:08x}"));
            }
        }
    }
}

/// `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    append_escaped_rune(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

/// `strconv.CanBackquote`.
pub fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\x7f')))
}

/// The decimal digits of |v| and the position of the decimal point (Go's `decimalSlice`).
struct Digits {
    d: Vec<u8>,
    dp: i64,
}

/// Digits of |v|: shortest round-trip (`n` None) or rounded to `n` significant digits.
fn digits(v: f64, n: Option<usize>) -> Digits {
    if v == 0.0 {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    let s = match n {
        None => format!("{:e}", v.abs()),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    // Go's decimal digits carry no trailing zeros (formats pad them back where they belong).
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    Digits { d, dp: exp + 1 }
}

/// Digits of |v| rounded to `prec` digits after the decimal point.
fn digits_fixed(v: f64, prec: usize) -> Digits {
    let s = format!("{:.*}", prec, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut d: Vec<u8> = Vec::new();
    d.extend(int.bytes());
    d.extend(frac.bytes());
    let mut dp = int.len() as i64;
    // Strip leading zeros (moving the point).
    let lead = d.iter().take_while(|b| **b == b'0').count();
    d.drain(..lead);
    dp -= lead as i64;
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        dp = 0;
    }
    Digits { d, dp }
}

/// `strconv.FormatFloat(v, fmt, prec, 64)` for the formats `e E f g G` (`x X b` fall back to
/// `%e`-like output).
pub fn format_float(v: f64, fmt: char, prec: i64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let neg = v.is_sign_negative();
    let shortest = prec < 0;
    let fmt = match fmt {
        'e' | 'E' | 'f' | 'g' | 'G' => fmt,
        'x' | 'X' | 'b' => return format_hex_float(v, fmt, prec),
        _ => return format!("%{fmt}"),
    };
    let (digs, prec) = if shortest {
        let d = digits(v, None);
        let nd = if v == 0.0 { 0 } else { d.d.len() as i64 };
        let p = match fmt {
            'e' | 'E' => (nd - 1).max(0),
            'f' => (nd - d.dp).max(0),
            _ => nd,
        };
        (d, p)
    } else {
        match fmt {
            'e' | 'E' => (digits(v, Some(prec as usize + 1)), prec),
            'f' => (digits_fixed(v, prec as usize), prec),
            _ => {
                let p = if prec == 0 { 1 } else { prec };
                (digits(v, Some(p as usize)), p)
            }
        }
    };
    let mut digs = digs;
    if v == 0.0 {
        digs.d.clear();
        digs.dp = 0;
    }
    let mut out = String::new();
    format_digits(&mut out, shortest, neg, &digs, prec, fmt);
    out
}

fn format_digits(out: &mut String, shortest: bool, neg: bool, digs: &Digits, prec: i64, fmt: char) {
    let nd = digs.d.len() as i64;
    match fmt {
        'e' | 'E' => fmt_e(out, neg, digs, prec, fmt),
        'f' => fmt_f(out, neg, digs, prec),
        _ => {
            let mut prec = prec;
            let mut eprec = prec;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                let e = if fmt == 'g' { 'e' } else { 'E' };
                fmt_e(out, neg, digs, prec - 1, e);
                return;
            }
            if prec > digs.dp {
                prec = nd;
            }
            fmt_f(out, neg, digs, (prec - digs.dp).max(0));
        }
    }
}

fn fmt_e(out: &mut String, neg: bool, d: &Digits, prec: i64, fmt: char) {
    if neg {
        out.push('-');
    }
    let nd = d.d.len() as i64;
    out.push(if nd != 0 { d.d[0] as char } else { '0' });
    if prec > 0 {
        out.push('.');
        let mut i = 1i64;
        let m = nd.min(prec + 1);
        if i < m {
            for b in &d.d[i as usize..m as usize] {
                out.push(*b as char);
            }
            i = m;
        }
        while i <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(fmt);
    let mut exp = d.dp - 1;
    if nd == 0 {
        exp = 0;
    }
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, neg: bool, d: &Digits, prec: i64) {
    if neg {
        out.push('-');
    }
    let nd = d.d.len() as i64;
    if d.dp > 0 {
        let m = nd.min(d.dp);
        for b in &d.d[..m as usize] {
            out.push(*b as char);
        }
        for _ in m..d.dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = d.dp + i;
            out.push(if 0 <= j && j < nd {
                d.d[j as usize] as char
            } else {
                '0'
            });
        }
    }
}

/// `%x` / `%b` of a float64 (rare in charts): Go's hexadecimal mantissa-exponent form.
fn format_hex_float(v: f64, fmt: char, prec: i64) -> String {
    let bits = v.to_bits();
    let neg = bits >> 63 != 0;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp = exp_bits - 1023 - 52;
    if exp_bits == 0 {
        exp += 1;
    } else {
        mant |= 1u64 << 52;
    }
    if fmt == 'b' {
        return format!(
            "{}{}p{}{}",
            if neg { "-" } else { "" },
            mant,
            if exp >= 0 { "+" } else { "" },
            exp
        );
    }
    // Hexadecimal: normalise mantissa to 1.xxx (shift so the leading bit is bit 60).
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if mant == 0 {
        exp = 0;
    }
    let mut m = mant;
    if m != 0 {
        while m & (1u64 << 60) == 0 {
            m <<= 1;
            exp -= 1;
        }
        exp += 60;
    }
    let lower = fmt == 'x';
    let digs = if lower { LDIGITS } else { UDIGITS };
    let mut frac = m & ((1u64 << 60) - 1);
    let mut lead = m >> 60;
    if (0..15).contains(&prec) {
        let shift = 60 - prec * 4;
        let extra = frac & ((1u64 << shift) - 1);
        frac >>= shift;
        let half = 1u64 << (shift - 1);
        if extra > half || (extra == half && frac & 1 == 1) {
            frac += 1;
        }
        if frac >> (prec * 4) != 0 {
            lead += 1;
            frac &= (1u64 << (prec * 4)) - 1;
        }
        if lead > 1 {
            lead = 1;
            exp += 1;
        }
        out.push_str(if lower { "0x" } else { "0X" });
        out.push(digs[lead as usize] as char);
        if prec > 0 {
            out.push('.');
            for i in (0..prec).rev() {
                out.push(digs[((frac >> (i * 4)) & 0xf) as usize] as char);
            }
        }
    } else {
        out.push_str(if lower { "0x" } else { "0X" });
        out.push(digs[lead as usize] as char);
        let mut f = frac;
        if f != 0 {
            out.push('.');
            while f != 0 {
                out.push(digs[((f >> 56) & 0xf) as usize] as char);
                f = (f << 4) & ((1u64 << 60) - 1);
            }
        }
    }
    out.push(if lower { 'p' } else { 'P' });
    out.push(if exp >= 0 { '+' } else { '-' });
    let e = exp.abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}
