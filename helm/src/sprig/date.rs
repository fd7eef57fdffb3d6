//! Sprig's date functions over a `time.Time` in UTC: `now`, `date`, `dateInZone`, `htmlDate`,
//! `htmlDateInZone`, `unixEpoch`, `dateModify`, `mustDateModify`, `ago`, and the seconds-based
//! `duration`/`durationRound`; Go's reference-layout formatting (`2006-01-02T15:04:05Z07:00`).
//!
//! Zones: `UTC`, `Local` and `""` are UTC (the agent runs in UTC); another zone name needs the
//! tz database, which a pure renderer does not read, so it falls back to UTC as Sprig does when
//! a zone cannot be loaded. `toDate`/`mustToDate` (layout parsing) are not implemented yet.

use std::rc::Rc;

use super::reg;
use crate::template::{Ctx, Func, Templates};
use crate::value::{Object, Type, Value};

/// A `time.Time` (UTC): seconds since the Unix epoch and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    pub unix: i64,
    pub nsec: u32,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

struct Civil {
    year: i64,
    month: usize,
    day: i64,
    yday: i64,
    weekday: usize,
    hour: i64,
    min: i64,
    sec: i64,
}

fn civil(t: Time) -> Civil {
    let days = t.unix.div_euclid(86400);
    let secs = t.unix.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + i64::from(leap && month > 2);
    Civil {
        year,
        month: month as usize,
        day,
        yday,
        weekday: (days + 4).rem_euclid(7) as usize,
        hour: secs / 3600,
        min: secs % 3600 / 60,
        sec: secs % 60,
    }
}

fn pad(out: &mut String, v: i64, width: usize) {
    let s = v.unsigned_abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

fn starts_lower(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

/// `time.Time.Format` for a UTC time.
pub fn format(t: Time, layout: &str) -> String {
    let c = civil(t);
    let mut out = String::new();
    let b = layout.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let tok = |s: &str| rest.starts_with(s);
        let emit = |s: &str, n: usize, out: &mut String| {
            out.push_str(s);
            n
        };
        let adv = match b[i] {
            b'J' if tok("January") => emit(MONTHS[c.month - 1], 7, &mut out),
            b'J' if tok("Jan") && !starts_lower(&rest[3..]) => {
                emit(&MONTHS[c.month - 1][..3], 3, &mut out)
            }
            b'M' if tok("Monday") => emit(DAYS[c.weekday], 6, &mut out),
            b'M' if tok("Mon") && !starts_lower(&rest[3..]) => {
                emit(&DAYS[c.weekday][..3], 3, &mut out)
            }
            b'M' if tok("MST") => emit("UTC", 3, &mut out),
            b'0' if tok("002") => {
                pad(&mut out, c.yday, 3);
                3
            }
            b'0' if rest.len() >= 2 && (b'1'..=b'6').contains(&b[i + 1]) => {
                let v = match b[i + 1] {
                    b'1' => c.month as i64,
                    b'2' => c.day,
                    b'3' => {
                        let h = c.hour % 12;
                        if h == 0 { 12 } else { h }
                    }
                    b'4' => c.min,
                    b'5' => c.sec,
                    _ => c.year.rem_euclid(100),
                };
                pad(&mut out, v, 2);
                2
            }
            b'1' if tok("15") => {
                pad(&mut out, c.hour, 2);
                2
            }
            b'1' => {
                out.push_str(&c.month.to_string());
                1
            }
            b'2' if tok("2006") => {
                pad(&mut out, c.year, 4);
                4
            }
            b'2' => {
                out.push_str(&c.day.to_string());
                1
            }
            b'_' if tok("_2006") => {
                out.push('_');
                pad(&mut out, c.year, 4);
                5
            }
            b'_' if tok("__2") => {
                let s = c.yday.to_string();
                for _ in s.len()..3 {
                    out.push(' ');
                }
                out.push_str(&s);
                3
            }
            b'_' if tok("_2") => {
                if c.day < 10 {
                    out.push(' ');
                }
                out.push_str(&c.day.to_string());
                2
            }
            b'3' => {
                let h = c.hour % 12;
                out.push_str(&(if h == 0 { 12 } else { h }).to_string());
                1
            }
            b'4' => {
                out.push_str(&c.min.to_string());
                1
            }
            b'5' => {
                out.push_str(&c.sec.to_string());
                1
            }
            b'P' if tok("PM") => emit(if c.hour >= 12 { "PM" } else { "AM" }, 2, &mut out),
            b'p' if tok("pm") => emit(if c.hour >= 12 { "pm" } else { "am" }, 2, &mut out),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let forms = ["070000", "07:00:00", "0700", "07:00", "07"];
                match forms.iter().find(|f| rest[1..].starts_with(**f)) {
                    Some(f) => {
                        // UTC: offset 0.
                        if iso {
                            out.push('Z');
                        } else {
                            out.push('+');
                            out.push_str(&f.replace('7', "0"));
                        }
                        1 + f.len()
                    }
                    None => {
                        out.push(b[i] as char);
                        1
                    }
                }
            }
            b'.' | b',' if rest.len() > 1 && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    out.push(b[i] as char);
                    1
                } else {
                    let n = j - (i + 1);
                    let digits = format!("{:09}", t.nsec);
                    let mut frac = digits[..n.min(9)].to_string();
                    if ch == b'9' {
                        while frac.ends_with('0') {
                            frac.pop();
                        }
                        if !frac.is_empty() {
                            out.push(b[i] as char);
                            out.push_str(&frac);
                        }
                    } else {
                        out.push(b[i] as char);
                        out.push_str(&frac);
                    }
                    j - i
                }
            }
            _ => {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                ch.len_utf8()
            }
        };
        i += adv;
    }
    out
}

/// A `time.Time` in templates: prints as Go's `String()`, with the common methods.
struct TimeObject(Time);

fn method(name: &str, result: Type, v: Value) -> Rc<Func> {
    Rc::new(Func::new(
        name,
        vec![],
        None,
        result,
        move |_: &mut Ctx<'_>, _| Ok(v.clone()),
    ))
}

impl Object for TimeObject {
    fn type_name(&self) -> String {
        "time.Time".into()
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn method(&self, name: &str) -> Option<Rc<Func>> {
        let t = self.0;
        let c = civil(t);
        Some(match name {
            "Year" => method(name, Type::Int, Value::Int(c.year)),
            "Day" => method(name, Type::Int, Value::Int(c.day)),
            "Hour" => method(name, Type::Int, Value::Int(c.hour)),
            "Minute" => method(name, Type::Int, Value::Int(c.min)),
            "Second" => method(name, Type::Int, Value::Int(c.sec)),
            "YearDay" => method(name, Type::Int, Value::Int(c.yday)),
            "Nanosecond" => method(name, Type::Int, Value::Int(t.nsec as i64)),
            "Unix" => method(name, Type::Int64, Value::Int64(t.unix)),
            "UnixNano" => method(
                name,
                Type::Int64,
                Value::Int64(
                    t.unix
                        .wrapping_mul(1_000_000_000)
                        .wrapping_add(t.nsec as i64),
                ),
            ),
            "String" => method(name, Type::String, Value::from(go_string(t))),
            "Format" => {
                let mut f = Func::new(name, vec![Type::String], None, Type::String, move |_, a| {
                    Ok(Value::from(format(t, a[0].as_str().unwrap_or(""))))
                });
                f.returns_error = false;
                Rc::new(f)
            }
            "UTC" | "Local" => method(
                name,
                Type::Named(Rc::from("time.Time")),
                Value::Object(Rc::new(TimeObject(t))),
            ),
            _ => return None,
        })
    }
    fn stringer(&self) -> Option<String> {
        Some(go_string(self.0))
    }
    fn is_pointer(&self) -> bool {
        false
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// `time.Time.String()` for UTC.
fn go_string(t: Time) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

fn as_time(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) => o.as_any()?.downcast_ref::<TimeObject>().map(|t| t.0),
        _ => None,
    }
}

fn now() -> Time {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Time {
        unix: d.as_secs() as i64,
        nsec: d.subsec_nanos(),
    }
}

/// Sprig's `dateInZone` argument rules: a time, or Unix seconds as `int`/`int64`; anything else is
/// the current time.
fn date_arg(v: &Value) -> Time {
    match v {
        Value::Int(i) | Value::Int64(i) => Time { unix: *i, nsec: 0 },
        v => as_time(v).unwrap_or_else(now),
    }
}

fn time_value(t: Time) -> Value {
    Value::Object(Rc::new(TimeObject(t)))
}

fn add_duration(t: Time, d: i64) -> Time {
    let total = t.nsec as i128 + d as i128;
    let secs = total.div_euclid(1_000_000_000);
    Time {
        unix: t.unix + secs as i64,
        nsec: total.rem_euclid(1_000_000_000) as u32,
    }
}

fn since(t: Time) -> i64 {
    let n = now();
    let d = (n.unix as i128 - t.unix as i128) * 1_000_000_000 + (n.nsec as i128 - t.nsec as i128);
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

pub(super) fn add(t: &mut Templates) {
    use Type::{Interface as Any, String as Str};
    let time_t = || Type::Named(Rc::from("time.Time"));
    reg(t, "now", vec![], None, time_t(), |_| Ok(time_value(now())));
    reg(t, "date", vec![Str, Any], None, Str, |a| {
        Ok(format(date_arg(&a[1]), a[0].as_str().unwrap_or("")).into())
    });
    for name in ["dateInZone", "date_in_zone"] {
        reg(t, name, vec![Str, Any, Str], None, Str, |a| {
            Ok(format(date_arg(&a[1]), a[0].as_str().unwrap_or("")).into())
        });
    }
    reg(t, "htmlDate", vec![Any], None, Str, |a| {
        Ok(format(date_arg(&a[0]), "2006-01-02").into())
    });
    reg(t, "htmlDateInZone", vec![Any, Str], None, Str, |a| {
        Ok(format(date_arg(&a[0]), "2006-01-02").into())
    });
    reg(t, "unixEpoch", vec![time_t()], None, Str, |a| {
        Ok(as_time(&a[0])
            .map(|t| t.unix)
            .unwrap_or(0)
            .to_string()
            .into())
    });
    for name in ["dateModify", "date_modify"] {
        reg(t, name, vec![Str, time_t()], None, time_t(), |a| {
            let tm = as_time(&a[1]).unwrap_or(Time { unix: 0, nsec: 0 });
            Ok(time_value(
                match crate::duration::parse(a[0].as_str().unwrap_or("")) {
                    Ok(d) => add_duration(tm, d),
                    Err(_) => tm,
                },
            ))
        });
    }
    for name in ["mustDateModify", "must_date_modify"] {
        reg(t, name, vec![Str, time_t()], None, time_t(), |a| {
            let tm = as_time(&a[1]).unwrap_or(Time { unix: 0, nsec: 0 });
            let d = crate::duration::parse(a[0].as_str().unwrap_or(""))?;
            Ok(time_value(add_duration(tm, d)))
        });
    }
    reg(t, "ago", vec![Any], None, Str, |a| {
        let tm = match &a[0] {
            Value::Int(i) | Value::Int64(i) => Time { unix: *i, nsec: 0 },
            v => as_time(v).unwrap_or_else(now),
        };
        let d = since(tm);
        Ok(crate::duration::format(round_secs(d)).into())
    });
    reg(t, "duration", vec![Any], None, Str, |a| {
        let n: i64 = match &a[0] {
            Value::String(s) => s.parse().unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(crate::duration::format(n.wrapping_mul(1_000_000_000)).into())
    });
    reg(t, "durationRound", vec![Any], None, Str, |a| {
        let d: i64 = match &a[0] {
            Value::String(s) => crate::duration::parse(s).unwrap_or(0),
            Value::Int64(i) => *i,
            v => as_time(v).map(since).unwrap_or(0),
        };
        let u = d.unsigned_abs();
        let (year, month, day, hour, minute, second) = (
            3600u64 * 1_000_000_000 * 24 * 365,
            3600u64 * 1_000_000_000 * 24 * 30,
            3600u64 * 1_000_000_000 * 24,
            3600u64 * 1_000_000_000,
            60u64 * 1_000_000_000,
            1_000_000_000u64,
        );
        Ok(if u > year {
            format!("{}y", u / year)
        } else if u > month {
            format!("{}mo", u / month)
        } else if u > day {
            format!("{}d", u / day)
        } else if u > hour {
            format!("{}h", u / hour)
        } else if u > minute {
            format!("{}m", u / minute)
        } else if u > second {
            format!("{}s", u / second)
        } else {
            "0s".to_string()
        }
        .into())
    });
}

fn round_secs(d: i64) -> i64 {
    let m = 1_000_000_000i64;
    let r = d % m;
    if d < 0 {
        let r = -r;
        if (r as u64) * 2 < m as u64 {
            d + r
        } else {
            d - m + r
        }
    } else if (r as u64) * 2 < m as u64 {
        d - r
    } else {
        d + m - r
    }
}
