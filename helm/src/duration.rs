//! Go's `time.Duration` (parsing, `String()`, `Round`, `Truncate`) and Helm v4.3's duration
//! functions (`mustToDuration`, `durationSeconds` … `durationTruncateTo`).

use crate::template::{Func, Templates};
use crate::value::{Type, Value};

const NS: u64 = 1;
const US: u64 = 1000;
const MS: u64 = 1000 * US;
const SEC: u64 = 1000 * MS;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

fn unit(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => NS,
        "us" | "\u{b5}s" | "\u{3bc}s" => US,
        "ms" => MS,
        "s" => SEC,
        "m" => MIN,
        "h" => HOUR,
        _ => return None,
    })
}

/// `time.ParseDuration`.
///
/// # Errors
/// Go's messages (`time: invalid duration "x"`, `time: missing unit in duration "1"` …).
pub fn parse(orig: &str) -> Result<i64, String> {
    let q = crate::gofmt::quote;
    let invalid = || format!("time: invalid duration {}", q(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Leading integer.
        let mut i = 0;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > (1u64 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + (b[i] - b'0') as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.starts_with('.') {
            s = &s[1..];
            let b = s.as_bytes();
            let mut j = 0;
            let mut overflow = false;
            while j < b.len() && b[j].is_ascii_digit() {
                if !overflow {
                    if f > (i64::MAX as u64) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + (b[j] - b'0') as u64;
                        if y > i64::MAX as u64 {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                j += 1;
            }
            post = j > 0;
            s = &s[j..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let k = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if k == 0 {
            return Err(format!("time: missing unit in duration {}", q(orig)));
        }
        let u = &s[..k];
        s = &s[k..];
        let Some(unit) = unit(u) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                q(u),
                q(orig)
            ));
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(d as i64)
}

fn frac(buf: &mut Vec<u8>, mut v: u64, prec: usize) -> u64 {
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            buf.push(b'0' + digit as u8);
        }
        v /= 10;
    }
    if print {
        buf.push(b'.');
    }
    v
}

fn int(buf: &mut Vec<u8>, mut v: u64) {
    if v == 0 {
        buf.push(b'0');
        return;
    }
    while v > 0 {
        buf.push(b'0' + (v % 10) as u8);
        v /= 10;
    }
}

/// `time.Duration.String`.
pub fn format(d: i64) -> String {
    // Built right to left, reversed at the end (as Go fills its buffer from the end).
    let mut buf: Vec<u8> = Vec::new();
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u < SEC {
        let prec;
        if u == 0 {
            return "0s".into();
        }
        buf.push(b's');
        if u < US {
            prec = 0;
            buf.push(b'n');
        } else if u < MS {
            prec = 3;
            buf.extend("µ".bytes().rev());
        } else {
            prec = 6;
            buf.push(b'm');
        }
        u = frac(&mut buf, u, prec);
        int(&mut buf, u);
    } else {
        buf.push(b's');
        u = frac(&mut buf, u, 9);
        int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push(b'm');
            int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push(b'h');
                int(&mut buf, u);
            }
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.reverse();
    String::from_utf8(buf).unwrap_or_default()
}

fn round(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let mut r = d % m;
    let less_than_half = |x: i64, y: i64| (x as u64).wrapping_add(x as u64) < y as u64;
    if d < 0 {
        r = -r;
        if less_than_half(r, m) {
            return d + r;
        }
        let d1 = d.wrapping_sub(m).wrapping_add(r);
        return if d1 < d { d1 } else { i64::MIN };
    }
    if less_than_half(r, m) {
        return d - r;
    }
    let d1 = d.wrapping_add(m).wrapping_sub(r);
    if d1 > d { d1 } else { i64::MAX }
}

fn truncate(d: i64, m: i64) -> i64 {
    if m <= 0 { d } else { d - d % m }
}

const MAX_SECS: i64 = i64::MAX / SEC as i64;
const MIN_SECS: i64 = i64::MIN / SEC as i64;

fn from_secs_float(s: f64) -> Result<i64, String> {
    if s.is_nan() || s.is_infinite() {
        return Err(format!(
            "invalid duration seconds: {}",
            crate::gofmt::sprint(&[Value::Float64(s)])
        ));
    }
    let (max, min) = (i64::MAX as f64 / 1e9, i64::MIN as f64 / 1e9);
    if s > max || s < min {
        return Err(format!(
            "duration seconds overflow: {}",
            crate::gofmt::sprint(&[Value::Float64(s)])
        ));
    }
    let nanos = s * 1e9;
    if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
        return Err(format!(
            "duration nanoseconds overflow: {}",
            crate::gofmt::sprint(&[Value::Float64(nanos)])
        ));
    }
    Ok(crate::gofmt::go_f64_to_i64(nanos))
}

/// Helm's `asDuration`: a Duration, a duration string or seconds (number or numeric string).
///
/// # Errors
/// Helm's messages (`could not parse duration "x"`, `invalid duration` for nil …).
pub fn as_duration(v: &Value) -> Result<i64, String> {
    match v {
        Value::Duration(d) => Ok(*d),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Err("empty duration".into());
            }
            if let Ok(d) = parse(t) {
                return Ok(d);
            }
            if let Some(f) =
                crate::template::parse::parse_float(t).or_else(|| t.parse::<f64>().ok())
            {
                return from_secs_float(f);
            }
            Err(format!(
                "could not parse duration {}",
                crate::gofmt::quote(s)
            ))
        }
        Value::Nil => Err("invalid duration".into()),
        Value::Int(i) | Value::Int64(i) => {
            if *i > MAX_SECS || *i < MIN_SECS {
                return Err(format!("duration seconds overflow: {i}"));
            }
            Ok(i * SEC as i64)
        }
        Value::Uint(u) => {
            if *u > MAX_SECS as u64 {
                return Err(format!("duration seconds overflow: {u}"));
            }
            Ok(*u as i64 * SEC as i64)
        }
        Value::Uint8(u) => Ok(*u as i64 * SEC as i64),
        Value::Float64(f) => from_secs_float(*f),
        v => Err(format!("unsupported duration type {}", v.type_name())),
    }
}

fn reg(
    t: &mut Templates,
    name: &str,
    params: Vec<Type>,
    result: Type,
    f: fn(Vec<Value>) -> Result<Value, String>,
) {
    let mut func = Func::new(name, params, None, result, move |_, a| f(a));
    func.returns_error = false;
    t.add_func(func);
}

/// The `time.Duration` type.
pub fn duration_type() -> Type {
    Type::Named(std::rc::Rc::from("time.Duration"))
}

/// Registers Helm's duration functions.
pub fn add_to(t: &mut Templates) {
    use Type::{Float64, Int64, Interface as Any};
    reg(t, "mustToDuration", vec![Any], duration_type(), |a| {
        Ok(Value::Duration(as_duration(&a[0])?))
    });
    let secs = |d: i64, unit: i64| (d / unit) as f64 + (d % unit) as f64 / unit as f64;
    let _ = secs;
    reg(t, "durationSeconds", vec![Any], Float64, |a| {
        Ok(Value::Float64(
            as_duration(&a[0])
                .map(|d| (d / SEC as i64) as f64 + (d % SEC as i64) as f64 / 1e9)
                .unwrap_or(0.0),
        ))
    });
    reg(t, "durationMilliseconds", vec![Any], Int64, |a| {
        Ok(Value::Int64(
            as_duration(&a[0]).map(|d| d / MS as i64).unwrap_or(0),
        ))
    });
    reg(t, "durationMicroseconds", vec![Any], Int64, |a| {
        Ok(Value::Int64(
            as_duration(&a[0]).map(|d| d / US as i64).unwrap_or(0),
        ))
    });
    reg(t, "durationNanoseconds", vec![Any], Int64, |a| {
        Ok(Value::Int64(as_duration(&a[0]).unwrap_or(0)))
    });
    reg(t, "durationMinutes", vec![Any], Float64, |a| {
        Ok(Value::Float64(
            as_duration(&a[0])
                .map(|d| (d / MIN as i64) as f64 + (d % MIN as i64) as f64 / (60.0 * 1e9))
                .unwrap_or(0.0),
        ))
    });
    reg(t, "durationHours", vec![Any], Float64, |a| {
        Ok(Value::Float64(as_duration(&a[0]).map(hours).unwrap_or(0.0)))
    });
    reg(t, "durationDays", vec![Any], Float64, |a| {
        Ok(Value::Float64(
            as_duration(&a[0]).map(|d| hours(d) / 24.0).unwrap_or(0.0),
        ))
    });
    reg(t, "durationWeeks", vec![Any], Float64, |a| {
        Ok(Value::Float64(
            as_duration(&a[0])
                .map(|d| hours(d) / 24.0 / 7.0)
                .unwrap_or(0.0),
        ))
    });
    reg(t, "durationRoundTo", vec![Any, Any], duration_type(), |a| {
        let Ok(d) = as_duration(&a[0]) else {
            return Ok(Value::Duration(0));
        };
        Ok(Value::Duration(match as_duration(&a[1]) {
            Ok(m) => round(d, m),
            Err(_) => d,
        }))
    });
    reg(
        t,
        "durationTruncateTo",
        vec![Any, Any],
        duration_type(),
        |a| {
            let Ok(d) = as_duration(&a[0]) else {
                return Ok(Value::Duration(0));
            };
            Ok(Value::Duration(match as_duration(&a[1]) {
                Ok(m) => truncate(d, m),
                Err(_) => d,
            }))
        },
    );
}

fn hours(d: i64) -> f64 {
    (d / HOUR as i64) as f64 + (d % HOUR as i64) as f64 / (60.0 * 60.0 * 1e9)
}
