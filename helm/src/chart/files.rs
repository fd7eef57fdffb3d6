//! `.Files` (Helm's `engine.files`: `Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`,
//! `AsSecrets`) and chart archives (`.tgz` subcharts).

use std::collections::BTreeMap;
use std::io::Read;
use std::rc::Rc;

use base64::Engine as _;

use super::ChartError;
use super::load::{Chart, load_files};
use crate::template::Func;
use crate::value::{MethodSet, Type, Value};

#[derive(Debug)]
struct FilesMethods;

fn entries(receiver: &Value) -> BTreeMap<String, Vec<u8>> {
    match receiver {
        Value::Map(m) => m
            .borrow()
            .entries
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Value::Bytes(b) => b.to_vec(),
                        _ => Vec::new(),
                    },
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn named(m: BTreeMap<String, Vec<u8>>) -> Value {
    let v = Value::typed_map(
        Type::Slice(Rc::new(Type::Uint8)),
        m.into_iter()
            .map(|(k, d)| (k, Value::Bytes(Rc::from(d))))
            .collect(),
    );
    if let Value::Map(m) = &v {
        let mut b = m.borrow_mut();
        b.name = Some(Rc::from("engine.files"));
        b.methods = Some(Rc::new(FilesMethods));
    }
    v
}

/// The `.Files` value of a chart.
pub fn files_value(files: &[(String, Vec<u8>)]) -> Value {
    named(files.iter().cloned().collect())
}

fn yaml_of_strings(m: BTreeMap<String, String>) -> String {
    let v = Value::typed_map(
        Type::String,
        m.into_iter().map(|(k, s)| (k, Value::from(s))).collect(),
    );
    crate::functions::to_yaml(&v)
        .map(|s| s.strip_suffix('\n').map(str::to_string).unwrap_or(s))
        .unwrap_or_default()
}

fn base(k: &str) -> String {
    let t = k.trim_end_matches('/');
    if t.is_empty() {
        return if k.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// gobwas/glob with `/` as separator, as a regex.
fn glob_regex(p: &str) -> Option<regex::Regex> {
    let chars: Vec<char> = p.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    let mut depth = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'!') {
                    class.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    let ch = chars[j];
                    if ch == '\\' || ch == '[' || ch == '^' || ch == '&' || ch == '~' {
                        class.push('\\');
                    }
                    class.push(ch);
                    j += 1;
                }
                if j >= chars.len() {
                    return None;
                }
                class.push(']');
                re.push_str(&class);
                i = j;
            }
            '{' => {
                re.push_str("(?:");
                depth += 1;
            }
            '}' if depth > 0 => {
                re.push(')');
                depth -= 1;
            }
            ',' if depth > 0 => re.push('|'),
            '\\' => {
                i += 1;
                let e = chars.get(i)?;
                re.push_str(&regex::escape(&e.to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if depth != 0 {
        return None;
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

fn func(
    name: &str,
    params: Vec<Type>,
    result: Type,
    f: impl Fn(Vec<Value>) -> Value + 'static,
) -> Rc<Func> {
    let mut func = Func::new(name, params, None, result, move |_, a| Ok(f(a)));
    func.returns_error = false;
    Rc::new(func)
}

impl MethodSet for FilesMethods {
    fn method(&self, name: &str, receiver: &Value) -> Option<Rc<Func>> {
        let files = entries(receiver);
        let files_type = Type::Named(Rc::from("engine.files"));
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        Some(match name {
            "Get" => func(name, vec![Type::String], Type::String, move |a| {
                Value::from(
                    String::from_utf8_lossy(files.get(&s(&a[0])).map(Vec::as_slice).unwrap_or(&[]))
                        .into_owned(),
                )
            }),
            "GetBytes" => func(
                name,
                vec![Type::String],
                Type::Slice(Rc::new(Type::Uint8)),
                move |a| Value::Bytes(Rc::from(files.get(&s(&a[0])).cloned().unwrap_or_default())),
            ),
            "Glob" => func(name, vec![Type::String], files_type, move |a| {
                let re = glob_regex(&s(&a[0]));
                named(
                    files
                        .iter()
                        .filter(|(k, _)| re.as_ref().is_none_or(|r| r.is_match(k)))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            }),
            "AsConfig" => func(name, vec![], Type::String, move |_| {
                Value::from(yaml_of_strings(
                    files
                        .iter()
                        .map(|(k, v)| (base(k), String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                ))
            }),
            "AsSecrets" => func(name, vec![], Type::String, move |_| {
                Value::from(yaml_of_strings(
                    files
                        .iter()
                        .map(|(k, v)| {
                            (base(k), base64::engine::general_purpose::STANDARD.encode(v))
                        })
                        .collect(),
                ))
            }),
            "Lines" => func(
                name,
                vec![Type::String],
                Type::Slice(Rc::new(Type::String)),
                move |a| {
                    let data = files.get(&s(&a[0])).cloned().unwrap_or_default();
                    if data.is_empty() {
                        return Value::typed_slice(Type::String, Vec::new());
                    }
                    let mut text = String::from_utf8_lossy(&data).into_owned();
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    Value::typed_slice(Type::String, text.split('\n').map(Value::from).collect())
                },
            ),
            _ => return None,
        })
    }
}

/// `loader.LoadArchive`: a gzipped tar whose entries sit under one top directory.
///
/// # Errors
/// A corrupt archive, or the chart's own loading errors.
pub fn load_archive(data: &[u8]) -> Result<Chart, ChartError> {
    let e = |m: String| ChartError(m);
    const MAX: u64 = 100 << 20; // Helm's MaxDecompressedChartSize
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX + 1)
        .read_to_end(&mut raw)
        .map_err(|x| e(format!("{x}")))?;
    if raw.len() as u64 > MAX {
        return Err(e(format!(
            "chart exceeds maximum decompressed size of {MAX} bytes"
        )));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut i = 0;
    let mut long_name: Option<String> = None;
    while i + 512 <= raw.len() {
        let h = &raw[i..i + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let field = |a: usize, b: usize| {
            let f = &h[a..b];
            let end = f.iter().position(|x| *x == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = usize::from_str_radix(field(124, 136).trim(), 8)
            .map_err(|_| e("archive/tar: invalid tar header".into()))?;
        let typ = h[156];
        let mut name = field(0, 100);
        if &h[257..262] == b"ustar" {
            let prefix = field(345, 500);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let start = i + 512;
        let end = start + size;
        if end > raw.len() {
            return Err(e("unexpected EOF".into()));
        }
        let body = &raw[start..end];
        i = start + size.div_ceil(512) * 512;
        match typ {
            b'L' => {
                long_name = Some(
                    String::from_utf8_lossy(body)
                        .trim_end_matches('\0')
                        .to_string(),
                );
                continue;
            }
            b'x' => {
                for rec in String::from_utf8_lossy(body).lines() {
                    if let Some((_, kv)) = rec.split_once(' ')
                        && let Some(p) = kv.strip_prefix("path=")
                    {
                        long_name = Some(p.to_string());
                    }
                }
                continue;
            }
            b'g' => continue,
            b'0' | 0 => {}
            _ => {
                long_name = None;
                continue;
            }
        }
        if let Some(l) = long_name.take() {
            name = l;
        }
        let parts: Vec<&str> = name.split('/').collect();
        let n = parts[1..].join("/");
        let n = n.trim_start_matches("./").to_string();
        if n.is_empty() {
            continue;
        }
        files.push((n, body.to_vec()));
    }
    if files.is_empty() {
        return Err(e("no files in chart archive".into()));
    }
    let mut data = files;
    for f in &mut data {
        if f.1.starts_with(&[0xEF, 0xBB, 0xBF]) {
            f.1.drain(..3);
        }
    }
    load_files(data)
}
