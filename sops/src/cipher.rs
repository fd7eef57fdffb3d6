//! sops' value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with a 32-byte
//! nonce, the value's key path (`a:b:c:`) as additional data, and the type restored from
//! `type:` (`str`, `int`, `float`, `bool`, `bytes`, `time`, `comment`).

use std::sync::OnceLock;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::Regex;
use zeroize::Zeroizing;

use crate::gotime::GoTime;
use crate::tree::Node;

type Aes256Gcm32 = AesGcm<aes::Aes256, U32>;

/// Why a value did not decrypt. Never carries the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Not `ENC[AES256_GCM,…]`.
    #[error(
        "the value is not in sops' encrypted format (`ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`)"
    )]
    Format,
    /// A field is not base64.
    #[error("the {0} of the encrypted value is not base64")]
    Base64(&'static str),
    /// The nonce is not 32 bytes (sops always writes 32).
    #[error("the IV of the encrypted value is {0} bytes, sops writes 32")]
    IvLength(usize),
    /// Authentication failed: another data key, another key path, or a changed value.
    #[error(
        "the value does not decrypt with the file's data key (it was changed, moved from another key, or encrypted with another data key)"
    )]
    Authentication,
    /// The plaintext does not parse as its type.
    #[error("the decrypted value is not a valid `{0}`")]
    Type(String),
    /// An unknown `type:`.
    #[error("unknown datatype `{0}`")]
    UnknownType(String),
}

/// Go's `base64.StdEncoding.DecodeString`: padding required, trailing bits tolerated, `\r` and
/// `\n` ignored.
pub fn go_base64(s: &str) -> Option<Vec<u8>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    ENGINE.decode(clean).ok()
}

fn enc_regex() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    // sops' own pattern: greedy fields, no end anchor.
    RE.get_or_init(|| Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").ok())
        .as_ref()
}

/// Whether `s` looks like an encrypted value (its prefix), for detecting encrypted objects.
pub fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Decrypts one value. An empty string is an empty string (sops does not encrypt them).
///
/// # Errors
/// See [`CipherError`].
pub fn decrypt(value: &str, key: &[u8], additional_data: &str) -> Result<Node, CipherError> {
    if value.is_empty() {
        return Ok(Node::Str(String::new()));
    }
    let caps = enc_regex()
        .and_then(|re| re.captures(value))
        .ok_or(CipherError::Format)?;
    let field = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let data = go_base64(field(1)).ok_or(CipherError::Base64("data"))?;
    let iv = go_base64(field(2)).ok_or(CipherError::Base64("iv"))?;
    let tag = go_base64(field(3)).ok_or(CipherError::Base64("tag"))?;
    let datatype = field(4);
    if iv.len() != 32 {
        return Err(CipherError::IvLength(iv.len()));
    }
    if tag.len() != 16 || key.len() != 32 {
        return Err(CipherError::Authentication);
    }
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let mut buf = Zeroizing::new(data);
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv),
            additional_data.as_bytes(),
            &mut buf,
            GenericArray::from_slice(&tag),
        )
        .map_err(|_| CipherError::Authentication)?;
    let text =
        || String::from_utf8(buf.to_vec()).map_err(|_| CipherError::Type(datatype.to_owned()));
    Ok(match datatype {
        "str" => match String::from_utf8(buf.to_vec()) {
            Ok(s) => Node::Str(s),
            Err(e) => Node::Raw(e.into_bytes()),
        },
        "int" => Node::Int(
            text()?
                .parse()
                .map_err(|_| CipherError::Type("int".into()))?,
        ),
        "float" => Node::Float(go_parse_float(&text()?).ok_or(CipherError::Type("float".into()))?),
        "bytes" => Node::Bytes(buf.to_vec()),
        "bool" => Node::Bool(go_parse_bool(&text()?).ok_or(CipherError::Type("bool".into()))?),
        "time" => {
            Node::Time(GoTime::parse_rfc3339(&text()?).ok_or(CipherError::Type("time".into()))?)
        }
        "comment" => Node::Comment(text()?),
        other => return Err(CipherError::UnknownType(other.to_owned())),
    })
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for what sops writes (decimal, `+Inf`, `-Inf`, `NaN`).
fn go_parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes_gcm::aead::Aead;
    use base64::engine::general_purpose::STANDARD;

    /// Encrypts as sops does (tests only: the agent never encrypts).
    pub(crate) fn encrypt(
        plain: &[u8],
        datatype: &str,
        key: &[u8],
        aad: &str,
        iv: &[u8; 32],
    ) -> String {
        let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
        let out = cipher
            .encrypt(
                GenericArray::from_slice(iv),
                aes_gcm::aead::Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let (data, tag) = out.split_at(out.len() - 16);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{datatype}]",
            STANDARD.encode(data),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }

    #[test]
    fn values_should_decrypt_to_their_type() {
        let key = [7u8; 32];
        let iv = [1u8; 32];
        for (plain, ty, want) in [
            ("hello", "str", Node::Str("hello".into())),
            ("-42", "int", Node::Int(-42)),
            ("1.5", "float", Node::Float(1.5)),
            ("True", "bool", Node::Bool(true)),
            (
                "2024-01-01T00:00:00Z",
                "time",
                Node::Time(GoTime::parse_rfc3339("2024-01-01T00:00:00Z").unwrap()),
            ),
            (" c", "comment", Node::Comment(" c".into())),
        ] {
            let v = encrypt(plain.as_bytes(), ty, &key, "a:b:", &iv);
            assert_eq!(decrypt(&v, &key, "a:b:"), Ok(want), "{ty}");
        }
        assert_eq!(decrypt("", &key, "x:"), Ok(Node::Str(String::new())));
    }

    #[test]
    fn tampering_should_fail_authentication_without_showing_the_value() {
        let key = [7u8; 32];
        let v = encrypt(b"secret", "str", &key, "a:", &[2u8; 32]);
        assert_eq!(
            decrypt(&v, &key, "b:"),
            Err(CipherError::Authentication),
            "moved to another key"
        );
        assert_eq!(
            decrypt(&v, &[8u8; 32], "a:"),
            Err(CipherError::Authentication),
            "another data key"
        );
        let flipped = v.replacen("data:", "data:A", 1);
        assert!(decrypt(&flipped, &key, "a:").is_err());
        let retyped = v.replace("type:str", "type:int");
        assert_eq!(
            decrypt(&retyped, &key, "a:"),
            Err(CipherError::Type("int".into()))
        );
        for bad in [
            "plain",
            "ENC[AES256_GCM,data:x]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
        ] {
            let e = decrypt(bad, &key, "a:").unwrap_err();
            assert!(!e.to_string().contains(bad), "{e}");
        }
        let short_iv = "ENC[AES256_GCM,data:AA==,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
        assert_eq!(decrypt(short_iv, &key, "a:"), Err(CipherError::IvLength(3)));
    }

    #[test]
    fn go_base64_should_ignore_newlines_and_require_padding() {
        assert_eq!(go_base64("aGk=\n"), Some(b"hi".to_vec()));
        assert_eq!(go_base64("aGk"), None);
        assert_eq!(
            go_base64("aGl="),
            Some(b"hi".to_vec()),
            "trailing bits tolerated"
        );
    }
}
