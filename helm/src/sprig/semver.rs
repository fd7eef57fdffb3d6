//! Masterminds/semver v3.3.0 (Sprig's `semver` and `semverCompare`): version parsing and
//! comparison, and constraints (`>= 1.2, < 2`, `~1.2`, `^1.2.3`, `1.2.x`, `1 - 2`, `||`).

use std::rc::Rc;
use std::sync::OnceLock;

use regex::Regex;

use crate::template::Func;
use crate::value::{Object, Type, Value};

const SEMVER_RE: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const CV_RE: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Res {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn res() -> &'static Res {
    static R: OnceLock<Res> = OnceLock::new();
    R.get_or_init(|| Res {
        version: Regex::new(&format!("^{SEMVER_RE}$")).expect("semver regex"),
        constraint: Regex::new(&format!(r"^\s*({OPS})\s*({CV_RE})\s*$")).expect("constraint regex"),
        range: Regex::new(&format!(r"\s*({CV_RE})\s+-\s+({CV_RE})\s*")).expect("range regex"),
        find: Regex::new(&format!(r"({OPS})\s*({CV_RE})")).expect("find regex"),
        valid: Regex::new(&format!(
            r"^(\s*({OPS})\s*({CV_RE})\s*)((?:\s+|,\s*)({OPS})\s*({CV_RE})\s*)*$"
        ))
        .expect("valid regex"),
    })
}

/// A semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

fn contains_only(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    s.chars().all(allowed)
}

fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if contains_only(part, |c| c.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("Version segment starts with 0".into());
            }
        } else if !contains_only(part, |c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("Invalid Prerelease string".into());
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), String> {
    for part in m.split('.') {
        if !contains_only(part, |c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("Invalid Metadata string".into());
        }
    }
    Ok(())
}

impl Version {
    /// `semver.NewVersion`.
    ///
    /// # Errors
    /// Masterminds' messages (`Invalid Semantic Version`).
    pub fn parse(v: &str) -> Result<Version, String> {
        let m = res()
            .version
            .captures(v)
            .ok_or("Invalid Semantic Version")?;
        let seg = |i: usize| -> Result<u64, String> {
            match m.get(i) {
                None => Ok(0),
                Some(s) => s.as_str().trim_start_matches('.').parse::<u64>().map_err(|_| {
                    format!(
                        "Error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
                        crate::gofmt::quote(s.as_str().trim_start_matches('.'))
                    )
                }),
            }
        };
        let ver = Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre: m.get(5).map(|x| x.as_str().to_string()).unwrap_or_default(),
            metadata: m.get(8).map(|x| x.as_str().to_string()).unwrap_or_default(),
            original: v.to_string(),
        };
        if !ver.pre.is_empty() {
            validate_prerelease(&ver.pre)?;
        }
        if !ver.metadata.is_empty() {
            validate_metadata(&ver.metadata)?;
        }
        Ok(ver)
    }

    /// Precedence: -1, 0 or 1.
    pub fn compare(&self, o: &Version) -> i64 {
        for (a, b) in [
            (self.major, o.major),
            (self.minor, o.minor),
            (self.patch, o.patch),
        ] {
            if a != b {
                return if a < b { -1 } else { 1 };
            }
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => -1,
            _ => compare_prerelease(&self.pre, &o.pre),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

fn compare_prerelease(v: &str, o: &str) -> i64 {
    let (s, t): (Vec<&str>, Vec<&str>) = (v.split('.').collect(), o.split('.').collect());
    for i in 0..s.len().max(t.len()) {
        let d = compare_pre_part(
            s.get(i).copied().unwrap_or(""),
            t.get(i).copied().unwrap_or(""),
        );
        if d != 0 {
            return d;
        }
    }
    0
}

fn compare_pre_part(s: &str, o: &str) -> i64 {
    if s == o {
        return 0;
    }
    if s.is_empty() {
        return -1;
    }
    if o.is_empty() {
        return 1;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                1
            } else {
                -1
            }
        }
        (_, Err(_)) => -1,
        (Err(_), _) => 1,
        (Ok(si), Ok(oi)) => {
            if si > oi {
                1
            } else {
                -1
            }
        }
    }
}

struct Constraint {
    con: Version,
    #[allow(dead_code)]
    // reason: kept for Masterminds' error texts (Validate), not needed by Check
    orig: String,
    op: String,
    minor_dirty: bool,
    dirty: bool,
    patch_dirty: bool,
}

fn is_x(x: &str) -> bool {
    matches!(x, "x" | "*" | "X")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    if c.is_empty() {
        return Ok(Constraint {
            con: Version {
                major: 0,
                minor: 0,
                patch: 0,
                pre: String::new(),
                metadata: String::new(),
                original: "0.0.0".into(),
            },
            orig: c.to_string(),
            op: String::new(),
            minor_dirty: false,
            patch_dirty: false,
            dirty: true,
        });
    }
    let m = res()
        .constraint
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {c}"))?;
    let g = |i: usize| m.get(i).map(|x| x.as_str()).unwrap_or("");
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let mut ver = g(2).to_string();
    if is_x(g(3)) || g(3).is_empty() {
        ver = format!("0.0.0{}", g(6));
        dirty = true;
    } else if is_x(g(4).trim_start_matches('.')) || g(4).is_empty() {
        minor_dirty = true;
        dirty = true;
        ver = format!("{}.0.0{}", g(3), g(6));
    } else if is_x(g(5).trim_start_matches('.')) || g(5).is_empty() {
        dirty = true;
        patch_dirty = true;
        ver = format!("{}{}.0{}", g(3), g(4), g(6));
    }
    let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
    Ok(Constraint {
        con,
        orig: g(2).to_string(),
        op: g(1).to_string(),
        minor_dirty,
        dirty,
        patch_dirty,
    })
}

fn rewrite_range(i: &str) -> String {
    let mut o = i.to_string();
    for m in res().range.captures_iter(i) {
        let t = format!(">= {}, <= {} ", &m[1], &m[11]);
        o = o.replacen(&m[0], &t, 1);
    }
    o
}

/// Parsed constraints: alternatives (`||`) of conjunctions.
pub struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    /// `semver.NewConstraint`.
    ///
    /// # Errors
    /// `improper constraint: …`.
    pub fn parse(c: &str) -> Result<Constraints, String> {
        let c = rewrite_range(c);
        let mut or = Vec::new();
        for v in c.split("||") {
            if !res().valid.is_match(v) {
                return Err(format!("improper constraint: {v}"));
            }
            let mut cs: Vec<String> = res()
                .find
                .find_iter(v)
                .map(|m| m.as_str().to_string())
                .collect();
            if cs.is_empty() {
                cs.push(v.to_string());
            }
            let mut and = Vec::new();
            for s in cs {
                and.push(parse_constraint(&s)?);
            }
            or.push(and);
        }
        Ok(Constraints(or))
    }

    /// `Constraints.Check`.
    pub fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|and| and.iter().all(|c| check(c, v)))
    }
}

fn tilde(v: &Version, c: &Constraint) -> bool {
    if !v.pre.is_empty() && c.con.pre.is_empty() {
        return false;
    }
    if v.compare(&c.con) < 0 {
        return false;
    }
    if c.con.major == 0 && c.con.minor == 0 && c.con.patch == 0 && !c.minor_dirty && !c.patch_dirty
    {
        return true;
    }
    if v.major != c.con.major {
        return false;
    }
    if v.minor != c.con.minor && !c.minor_dirty {
        return false;
    }
    true
}

fn check(c: &Constraint, v: &Version) -> bool {
    let pre_blocked = !v.pre.is_empty() && c.con.pre.is_empty();
    match c.op.as_str() {
        "" | "=" => {
            if pre_blocked {
                return false;
            }
            if c.dirty {
                return tilde(v, c);
            }
            v.compare(&c.con) == 0
        }
        "!=" => {
            if c.dirty {
                if !v.pre.is_empty() && c.con.pre.is_empty() {
                    return false;
                }
                if c.con.major != v.major {
                    return true;
                }
                if c.con.minor != v.minor && !c.minor_dirty {
                    return true;
                } else if c.minor_dirty {
                    return false;
                } else if c.con.patch != v.patch && !c.patch_dirty {
                    return true;
                } else if c.patch_dirty {
                    if !v.pre.is_empty() || !c.con.pre.is_empty() {
                        return compare_prerelease(&v.pre, &c.con.pre) != 0;
                    }
                    return false;
                }
            }
            v.compare(&c.con) != 0
        }
        ">" => {
            if pre_blocked {
                return false;
            }
            if !c.dirty {
                return v.compare(&c.con) == 1;
            }
            if v.major > c.con.major {
                true
            } else if v.major < c.con.major || c.minor_dirty {
                false
            } else if c.patch_dirty {
                v.minor > c.con.minor
            } else {
                v.compare(&c.con) == 1
            }
        }
        "<" => !pre_blocked && v.compare(&c.con) < 0,
        ">=" | "=>" => !pre_blocked && v.compare(&c.con) >= 0,
        "<=" | "=<" => {
            if pre_blocked {
                return false;
            }
            if !c.dirty {
                return v.compare(&c.con) <= 0;
            }
            !(v.major > c.con.major
                || (v.major == c.con.major && v.minor > c.con.minor && !c.minor_dirty))
        }
        "~" | "~>" => tilde(v, c),
        "^" => {
            if pre_blocked || v.compare(&c.con) < 0 {
                return false;
            }
            if c.con.major > 0 || c.minor_dirty {
                return v.major == c.con.major;
            }
            if c.con.major == 0 && v.major > 0 {
                return false;
            }
            if c.con.minor > 0 || c.patch_dirty {
                return v.minor == c.con.minor;
            }
            if c.con.minor == 0 && v.minor > 0 {
                return false;
            }
            c.con.patch == v.patch
        }
        _ => false,
    }
}

/// A `*semver.Version` as templates see it: `.Major`, `.Prerelease`, `.Compare` …, printed by
/// its `String()`.
struct VersionObject(Version);

impl Object for VersionObject {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn method(&self, name: &str) -> Option<Rc<Func>> {
        let v = &self.0;
        Some(match name {
            "Major" => Func::constant(name, Type::Uint, Value::Uint(v.major)),
            "Minor" => Func::constant(name, Type::Uint, Value::Uint(v.minor)),
            "Patch" => Func::constant(name, Type::Uint, Value::Uint(v.patch)),
            "Prerelease" => Func::constant(name, Type::String, Value::from(v.pre.as_str())),
            "Metadata" => Func::constant(name, Type::String, Value::from(v.metadata.as_str())),
            "Original" => Func::constant(name, Type::String, Value::from(v.original.as_str())),
            "String" => Func::constant(name, Type::String, Value::from(v.to_string())),
            "Compare" | "LessThan" | "GreaterThan" | "Equal" | "LessThanEqual"
            | "GreaterThanEqual" => {
                let me = v.clone();
                let op = name.to_string();
                let result = if name == "Compare" {
                    Type::Int
                } else {
                    Type::Bool
                };
                let mut f = Func::new(
                    name,
                    vec![Type::Named(Rc::from("*semver.Version"))],
                    None,
                    result,
                    move |_, a| {
                        let other = match &a[0] {
                            Value::Object(o) => as_version(o.as_ref()),
                            _ => None,
                        }
                        .ok_or(
                            "runtime error: invalid memory address or nil pointer dereference",
                        )?;
                        let c = me.compare(&other);
                        Ok(match op.as_str() {
                            "Compare" => Value::Int(c),
                            "LessThan" => Value::Bool(c < 0),
                            "GreaterThan" => Value::Bool(c > 0),
                            "Equal" => Value::Bool(c == 0),
                            "LessThanEqual" => Value::Bool(c <= 0),
                            _ => Value::Bool(c >= 0),
                        })
                    },
                );
                f.returns_error = false;
                Rc::new(f)
            }
            _ => return None,
        })
    }
    fn stringer(&self) -> Option<String> {
        Some(self.0.to_string())
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

fn as_version(o: &dyn Object) -> Option<Version> {
    o.as_any()?
        .downcast_ref::<VersionObject>()
        .map(|v| v.0.clone())
}

/// Registers `semver` and `semverCompare`.
pub(super) fn add(t: &mut crate::template::Templates) {
    t.add_func(Func::new(
        "semver",
        vec![Type::String],
        None,
        Type::Named(Rc::from("*semver.Version")),
        |_, a| {
            let v = Version::parse(a[0].as_str().unwrap_or(""))?;
            Ok(Value::Object(Rc::new(VersionObject(v))))
        },
    ));
    t.add_func(Func::new(
        "semverCompare",
        vec![Type::String, Type::String],
        None,
        Type::Bool,
        |_, a| {
            let c = Constraints::parse(a[0].as_str().unwrap_or(""))?;
            let v = Version::parse(a[1].as_str().unwrap_or(""))?;
            Ok(Value::Bool(c.check(&v)))
        },
    ));
}
