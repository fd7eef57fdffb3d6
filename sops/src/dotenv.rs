//! dotenv files as sops' dotenv store reads and writes them: one `KEY=value` a line (the key is
//! everything before the first `=`, untrimmed; `\n` in a value is a newline), `#` lines are
//! comments, empty lines are dropped; the metadata is flattened into `sops_…` keys.

use crate::Error;
use crate::tree::{Entry, Node};

/// Reads a dotenv file.
///
/// # Errors
/// A line that is neither empty, a comment, nor `KEY=value` (its line number, not its text).
pub fn load(text: &str) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            out.push(Entry::Comment(c.to_owned()));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::Syntax {
                format: "dotenv",
                line: n + 1,
                message: "invalid dotenv input line: no `=`".into(),
            });
        };
        out.push(Entry::Pair(k.to_owned(), Node::Str(v.replace("\\n", "\n"))));
    }
    Ok(out)
}

/// sops' `ValToString` for a value that is not a string.
fn val_to_string(n: &Node) -> String {
    match n {
        Node::Float(f) => {
            // strconv.FormatFloat(v, 'G', -1, 64), with at least one decimal digit.
            let g = crate::emit::go_format_g(*f, true);
            if !g.contains('.') && !g.contains('E') {
                crate::emit::go_format_fixed1(*f)
            } else {
                g
            }
        }
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Time(t) => t.rfc3339(),
        Node::Null => "<nil>".into(),
        Node::Bytes(b) => format!("{b:?}"),
        Node::Str(s) | Node::Comment(s) => s.clone(),
        Node::Raw(b) => String::from_utf8_lossy(b).into_owned(),
        Node::Map(_) | Node::List(_) => String::new(),
    }
}

/// Writes the plain dotenv file of `entries`.
///
/// # Errors
/// A map or list value (dotenv holds strings only), naming its key.
pub fn emit(entries: &[Entry]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for e in entries {
        match e {
            Entry::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Entry::Pair(k, v) => {
                if matches!(v, Node::Map(_) | Node::List(_)) {
                    return Err(Error::Emit(format!(
                        "cannot use complex value in dotenv file; offending key `{k}`"
                    )));
                }
                let value = match v {
                    Node::Str(s) => s.replace('\n', "\\n"),
                    other => val_to_string(other),
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&value);
                out.push('\n');
            }
        }
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_should_round_trip_as_sops_writes_them() {
        let text = "#c\nA=1\n\n B = x=y\nC=two\\nlines\n";
        let e = load(text).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Comment("c".into()),
                Entry::Pair("A".into(), Node::Str("1".into())),
                Entry::Pair(" B ".into(), Node::Str(" x=y".into())),
                Entry::Pair("C".into(), Node::Str("two\nlines".into())),
            ]
        );
        assert_eq!(
            String::from_utf8(emit(&e).unwrap()).unwrap(),
            "#c\nA=1\n B = x=y\nC=two\\nlines\n"
        );
        assert!(
            load("A=1\nnot a pair\n")
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        assert!(emit(&[Entry::Pair("k".into(), Node::List(vec![]))]).is_err());
        assert_eq!(
            emit(&[Entry::Pair("f".into(), Node::Float(2.0))]).unwrap(),
            b"f=2.0\n"
        );
    }
}
