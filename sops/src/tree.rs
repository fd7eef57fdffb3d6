//! sops' document tree: ordered maps (the MAC covers values in document order), lists and typed
//! leaves, as the Go stores build it.

use crate::gotime::GoTime;

/// A value of the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// An ordered map.
    Map(Vec<Entry>),
    /// A list.
    List(Vec<Node>),
    /// A string (sops type `str`).
    Str(String),
    /// A `str` value whose bytes are not UTF-8 (binary files): Go strings may hold any bytes.
    Raw(Vec<u8>),
    /// An integer (`int`).
    Int(i64),
    /// A float (`float`).
    Float(f64),
    /// A boolean (`bool`).
    Bool(bool),
    /// A null: never encrypted, not in the MAC.
    Null,
    /// A timestamp (`time`): go-yaml v3 reads plain timestamps as such.
    Time(GoTime),
    /// Bytes (`bytes`).
    Bytes(Vec<u8>),
    /// A comment value (`comment`), kept where sops keeps it (dotenv files).
    Comment(String),
}

/// One entry of a map.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// `key: value`.
    Pair(String, Node),
    /// A comment line (dotenv), possibly encrypted.
    Comment(String),
}

/// The documents of a file (several for a multi-document YAML file).
pub type Branches = Vec<Vec<Entry>>;

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal, never an exponent.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display is the shortest round-trip decimal without exponent, as Go's 'f', -1.
    format!("{f}")
}

impl Node {
    /// sops' `ToBytes`: the bytes of a leaf the MAC hashes. `None` for maps, lists and nulls.
    pub fn mac_bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            Node::Str(s) | Node::Comment(s) => s.as_bytes().to_vec(),
            Node::Int(i) => i.to_string().into_bytes(),
            Node::Float(f) => go_format_float_f(*f).into_bytes(),
            Node::Bool(true) => b"True".to_vec(),
            Node::Bool(false) => b"False".to_vec(),
            Node::Time(t) => t.rfc3339_nano().into_bytes(),
            Node::Bytes(b) | Node::Raw(b) => b.clone(),
            Node::Map(_) | Node::List(_) | Node::Null => return None,
        })
    }

    /// The sops type name of a leaf, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Map(_) => "map",
            Node::List(_) => "list",
            Node::Str(_) | Node::Raw(_) => "string",
            Node::Int(_) => "int",
            Node::Float(_) => "float",
            Node::Bool(_) => "bool",
            Node::Null => "null",
            Node::Time(_) => "time",
            Node::Bytes(_) => "bytes",
            Node::Comment(_) => "comment",
        }
    }
}

/// Counts nodes, to bound what aliases may expand to.
pub fn size(n: &Node) -> usize {
    match n {
        Node::Map(es) => es
            .iter()
            .map(|e| match e {
                Entry::Pair(_, v) => size(v),
                Entry::Comment(_) => 1,
            })
            .fold(1, usize::saturating_add),
        Node::List(xs) => xs.iter().map(size).fold(1, usize::saturating_add),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_bytes_should_be_those_of_go_to_bytes() {
        assert_eq!(Node::Float(1.0).mac_bytes().unwrap(), b"1");
        assert_eq!(Node::Float(0.5).mac_bytes().unwrap(), b"0.5");
        assert_eq!(
            Node::Float(1e21).mac_bytes().unwrap(),
            b"1000000000000000000000"
        );
        assert_eq!(Node::Float(1e-7).mac_bytes().unwrap(), b"0.0000001");
        assert_eq!(Node::Float(f64::INFINITY).mac_bytes().unwrap(), b"+Inf");
        assert_eq!(Node::Float(f64::NAN).mac_bytes().unwrap(), b"NaN");
        assert_eq!(Node::Bool(true).mac_bytes().unwrap(), b"True");
        assert_eq!(Node::Int(-3).mac_bytes().unwrap(), b"-3");
        assert_eq!(Node::Null.mac_bytes(), None);
    }
}
