//! Sprig's random functions: `randAlphaNum`, `randAlpha`, `randNumeric`, `randAscii`,
//! `randInt`, `randBytes`, `uuidv4`, `shuffle`. They work, and make every render differ: the
//! agent warns about templates that use them ([`super::NONDETERMINISTIC`]).

use super::reg;
use crate::template::Templates;
use crate::value::{Type, Value};

fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// A uniform random integer in `0..n` (n > 0).
fn below(n: u64) -> Result<u64, String> {
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8)?;
        let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        if v < zone {
            return Ok(v % n);
        }
    }
}

/// goutils.CryptoRandom over an ASCII range, keeping the characters `keep` accepts.
fn random_string(count: i64, start: u8, end: u8, keep: fn(u8) -> bool) -> Result<String, String> {
    if count < 0 {
        return Err(format!(
            "randomstringutils illegal argument: Requested random string length {count} is less than 0."
        ));
    }
    let mut out = String::new();
    while (out.len() as i64) < count {
        let c = start + below((end - start) as u64)? as u8;
        if keep(c) {
            out.push(c as char);
        }
    }
    Ok(out)
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

pub(super) fn add(t: &mut Templates) {
    use Type::{Int, String as Str};
    reg(t, "randAlphaNum", vec![Int], None, Str, |a| {
        Ok(
            random_string(int(&a[0]), b' ', b'z' + 1, |c| c.is_ascii_alphanumeric())
                .unwrap_or_default()
                .into(),
        )
    });
    reg(t, "randAlpha", vec![Int], None, Str, |a| {
        Ok(
            random_string(int(&a[0]), b' ', b'z' + 1, |c| c.is_ascii_alphabetic())
                .unwrap_or_default()
                .into(),
        )
    });
    reg(t, "randNumeric", vec![Int], None, Str, |a| {
        Ok(
            random_string(int(&a[0]), b' ', b'z' + 1, |c| c.is_ascii_digit())
                .unwrap_or_default()
                .into(),
        )
    });
    reg(t, "randAscii", vec![Int], None, Str, |a| {
        Ok(random_string(int(&a[0]), 32, 127, |_| true)
            .unwrap_or_default()
            .into())
    });
    reg(t, "randInt", vec![Int, Int], None, Int, |a| {
        let (min, max) = (int(&a[0]), int(&a[1]));
        if max - min <= 0 {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::Int(min + below((max - min) as u64)? as i64))
    });
    reg(t, "randBytes", vec![Int], None, Str, |a| {
        use base64::Engine;
        let n = int(&a[0]);
        if n < 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        Ok(base64::engine::general_purpose::STANDARD
            .encode(random_bytes(n as usize)?)
            .into())
    });
    reg(t, "uuidv4", vec![], None, Str, |_| {
        let mut b = random_bytes(16)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
        .into())
    });
    reg(t, "shuffle", vec![Str], None, Str, |a| {
        let mut chars: Vec<char> = a[0].as_str().unwrap_or("").chars().collect();
        for i in (1..chars.len()).rev() {
            let j = below(i as u64 + 1)? as usize;
            chars.swap(i, j);
        }
        Ok(chars.into_iter().collect::<String>().into())
    });
}
