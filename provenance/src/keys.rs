//! Cosign public keys: PEM `PUBLIC KEY` blocks (SubjectPublicKeyInfo) of the kinds cosign
//! signs with: ECDSA P-256 (`cosign generate-key-pair`) and P-384, Ed25519, RSA (2048 to 8192
//! bits, PKCS#1 v1.5 or PSS, SHA-256). Other key types are refused by name.

use crate::error::PolicyError;
use ring::digest::{SHA256, digest};
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519,
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
};
use spki::ObjectIdentifier;
use spki::der::Decode;

/// Largest PEM text accepted for one key source.
pub const MAX_PEM_SIZE: usize = 64 * 1024;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Names of algorithms and curves a user may hand us, for a clear refusal.
fn algorithm_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "1.2.840.113549.1.1.10" => "RSA-PSS (restricted SPKI)",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.132.0.35" => "ECDSA P-521",
        "1.3.132.0.10" => "ECDSA secp256k1",
        _ => return None,
    })
}

/// The kind of a trusted key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256, SHA-256 (cosign's default).
    EcdsaP256,
    /// ECDSA P-384, SHA-384 (Sigstore's default for the curve) or SHA-256 (cosign's legacy).
    EcdsaP384,
    /// Ed25519 (pure).
    Ed25519,
    /// RSA, PKCS#1 v1.5 or PSS, SHA-256.
    Rsa,
}

impl KeyKind {
    fn algorithms(self) -> &'static [&'static dyn VerificationAlgorithm] {
        static P256_ALGS: [&dyn VerificationAlgorithm; 1] = [&ECDSA_P256_SHA256_ASN1];
        static P384_ALGS: [&dyn VerificationAlgorithm; 2] =
            [&ECDSA_P384_SHA384_ASN1, &ECDSA_P384_SHA256_ASN1];
        static ED25519_ALGS: [&dyn VerificationAlgorithm; 1] = [&ED25519];
        static RSA_ALGS: [&dyn VerificationAlgorithm; 2] =
            [&RSA_PKCS1_2048_8192_SHA256, &RSA_PSS_2048_8192_SHA256];
        match self {
            KeyKind::EcdsaP256 => &P256_ALGS,
            KeyKind::EcdsaP384 => &P384_ALGS,
            KeyKind::Ed25519 => &ED25519_ALGS,
            KeyKind::Rsa => &RSA_ALGS,
        }
    }

    /// Whether signatures are ASN.1 DER `SEQUENCE { r, s }`.
    pub fn is_ecdsa(self) -> bool {
        matches!(self, KeyKind::EcdsaP256 | KeyKind::EcdsaP384)
    }
}

/// One trusted public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    kind: KeyKind,
    /// What ring reads: the EC point, the Ed25519 key, or the DER `RSAPublicKey`.
    material: Vec<u8>,
    id: String,
}

impl PublicKey {
    /// Parses one DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// A message naming the algorithm or curve when it is not one cosign signs with.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let info = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        let oid = info.algorithm.oid;
        let supported = "supported: ECDSA P-256 and P-384, Ed25519, RSA";
        let material = info
            .subject_public_key
            .as_bytes()
            .ok_or("public key bit string is not byte aligned")?;
        let kind = if oid == EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or("ECDSA key without a named curve")?;
            let (kind, len, name) = if curve == P256 {
                (KeyKind::EcdsaP256, 65, "P-256")
            } else if curve == P384 {
                (KeyKind::EcdsaP384, 97, "P-384")
            } else {
                return Err(match algorithm_name(&curve) {
                    Some(name) => format!("{name} keys are not supported ({supported})"),
                    None => format!("elliptic curve {curve} is not supported ({supported})"),
                });
            };
            if material.len() != len || material[0] != 4 {
                return Err(format!(
                    "{name} public key is not an uncompressed point ({len} bytes, 0x04…)"
                ));
            }
            kind
        } else if oid == ED25519_OID {
            if material.len() != 32 {
                return Err("Ed25519 public key is not 32 bytes".into());
            }
            KeyKind::Ed25519
        } else if oid == RSA {
            // ring reads the modulus when verifying; refuse short keys now, by name.
            let bits = rsa_modulus_bits(material).ok_or("RSA public key does not parse")?;
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "RSA keys of {bits} bits are not supported (2048 to 8192 bits)"
                ));
            }
            KeyKind::Rsa
        } else {
            return Err(match algorithm_name(&oid) {
                Some(name) => format!("{name} keys are not supported ({supported})"),
                None => format!("key algorithm {oid} is not supported ({supported})"),
            });
        };
        let hash = digest(&SHA256, der);
        let id = hash.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(PublicKey {
            spki: der.to_vec(),
            kind,
            material: material.to_vec(),
            id,
        })
    }

    /// A short identifier: the first 8 bytes of the SHA-256 of the SubjectPublicKeyInfo, hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Verifies a signature over `message` as cosign makes it with this kind of key (ECDSA
    /// signatures in ASN.1 DER; Ed25519 pure or Ed25519ph, which cosign v3 uses).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.kind.algorithms().iter().any(|alg| {
            UnparsedPublicKey::new(*alg, &self.material)
                .verify(message, signature)
                .is_ok()
        }) || (self.kind == KeyKind::Ed25519
            && verify_ed25519ph(&self.material, message, signature))
    }
}

/// Ed25519ph (RFC 8032, SHA-512 prehash, empty context): Go's `ed25519` with
/// `Options{Hash: crypto.SHA512}`, what sigstore signs with for Ed25519 keys.
fn verify_ed25519ph(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use sha2::Digest;
    let (Ok(key), Ok(signature)) = (
        <[u8; 32]>::try_from(key),
        ed25519_dalek::Signature::from_slice(signature),
    ) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_prehashed_strict(sha2::Sha512::new().chain_update(message), None, &signature)
        .is_ok()
}

/// The bit length of the modulus of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    fn length(bytes: &[u8]) -> Option<(usize, &[u8])> {
        match bytes {
            [l, rest @ ..] if *l < 0x80 => Some((*l as usize, rest)),
            [0x81, l, rest @ ..] => Some((*l as usize, rest)),
            [0x82, a, b, rest @ ..] => Some((((*a as usize) << 8) | *b as usize, rest)),
            _ => None,
        }
    }
    let [0x30, rest @ ..] = der else { return None };
    let (_, rest) = length(rest)?;
    let [0x02, rest @ ..] = rest else { return None };
    let (len, rest) = length(rest)?;
    let n = rest.get(..len)?;
    let n = match n {
        [0, tail @ ..] => tail,
        _ => n,
    };
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

/// Parses every `-----BEGIN PUBLIC KEY-----` block of `pem` (a Secret key may hold several).
///
/// # Errors
/// Text without any block, a block that is not a public key, or a key of another kind.
pub fn parse_public_keys(pem: &str) -> Result<Vec<PublicKey>, String> {
    if pem.len() > MAX_PEM_SIZE {
        return Err(format!("over the {MAX_PEM_SIZE} byte limit"));
    }
    let mut keys = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .ok_or("unterminated PEM header")?;
        let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        let footer = format!("-----END {label}-----");
        let end = block
            .find(&footer)
            .ok_or_else(|| format!("PEM block `{label}` has no `{footer}` line"))?
            + footer.len();
        if label != "PUBLIC KEY" {
            return Err(match label {
                "EC PRIVATE KEY"
                | "PRIVATE KEY"
                | "ENCRYPTED COSIGN PRIVATE KEY"
                | "ENCRYPTED SIGSTORE PRIVATE KEY" => {
                    format!("`{label}` is a private key: give the public key (cosign.pub)")
                }
                "CERTIFICATE" => {
                    "certificates (keyless) are not supported: give a public key".into()
                }
                "RSA PUBLIC KEY" => {
                    "PKCS#1 `RSA PUBLIC KEY` blocks are not read: give the SubjectPublicKeyInfo (`openssl pkey -pubin -in KEY -pubout`)".into()
                }
                _ => format!("PEM block `{label}` is not a `PUBLIC KEY`"),
            });
        }
        let (_, der) = pem_rfc7468::decode_vec(&block.as_bytes()[..end])
            .map_err(|e| format!("bad PEM: {e}"))?;
        keys.push(PublicKey::from_spki_der(&der)?);
        rest = &block[end..];
    }
    if keys.is_empty() {
        return Err("no `-----BEGIN PUBLIC KEY-----` block".into());
    }
    Ok(keys)
}

/// The keys one rule trusts. Its [`KeySet::id`] keys the verdict cache, so that a verdict
/// reached with one set of keys is never reused for another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<PublicKey>,
    id: [u8; 32],
}

impl KeySet {
    /// Parses and merges PEM texts (each may hold several keys). Duplicates are merged.
    ///
    /// # Errors
    /// [`PolicyError::InvalidKey`] naming the text's index.
    pub fn from_pems<S: AsRef<str>>(pems: &[S]) -> Result<Self, PolicyError> {
        let mut keys = Vec::new();
        for (index, pem) in pems.iter().enumerate() {
            let parsed = parse_public_keys(pem.as_ref())
                .map_err(|why| PolicyError::InvalidKey { index, why })?;
            keys.extend(parsed);
        }
        Ok(Self::new(keys))
    }

    /// A set of already parsed keys.
    pub fn new(mut keys: Vec<PublicKey>) -> Self {
        keys.sort_by(|a, b| a.spki.cmp(&b.spki));
        keys.dedup();
        let mut all = Vec::new();
        for k in &keys {
            all.extend_from_slice(&(k.spki.len() as u32).to_be_bytes());
            all.extend_from_slice(&k.spki);
        }
        let mut id = [0; 32];
        id.copy_from_slice(digest(&SHA256, &all).as_ref());
        KeySet { keys, id }
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// SHA-256 over the sorted keys.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// The first key that verifies `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.verify(message, signature))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    /// A cosign public key (`cosign generate-key-pair`, cosign v2.6.5).
    pub(crate) const COSIGN_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXEaUQZfn7sIUJ9m3KtP2CHaFyGSA
NJjX0V2+sA2Z36utBEF5YcjIOAgCx5yN6RQx6XNE0mzoZUgZFaqVn6CVnQ==
-----END PUBLIC KEY-----
";
    /// `openssl genpkey -algorithm ed25519 | openssl pkey -pubout`.
    const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAsQg0ki/hyeZxJck/FX9t7g1ZFL3K09/9YQJW+wLluDM=
-----END PUBLIC KEY-----
";
    /// `openssl genpkey -algorithm RSA | openssl pkey -pubout` (1024 bits, to stay short).
    const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDlawW8RiahJb4r3So7j6/GK0b5
nV0/H/kCT4oJ5ZBV+rQymtiYYHbMpLwB2v1DoLmXxtMJsO9KSe2uNXAqCpRB0FBx
BXj2xmC51XaZ94fFOYUXzddzqqN+L8oPrPS6UBWeT7asBNRXivpy7c259kPCrL43
x9LQo1NnltU7nqRUXQIDAQAB
-----END PUBLIC KEY-----
";
    /// `openssl ecparam -name secp384r1 -genkey | openssl ec -pubout`.
    const P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEQHdE8MA9GHpDoTwOr6CMqG8J4/lzo0g+
B7MO3f9IaoRVK8vkeHIsLOml094jX9T5OWWDaHiEjHC6aDJSvVnNZlJ+Mm8JApgi
eqEY/9q71ohusPCAYPlgBDq/60qSh9YY
-----END PUBLIC KEY-----
";

    /// A fresh P-256 key pair, and its public key as PEM.
    pub(crate) fn key_pair() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // SubjectPublicKeyInfo of a P-256 key: a fixed 26-byte header, then the point.
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(pair.public_key().as_ref());
        let pem =
            pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der).unwrap();
        (pair, pem)
    }

    pub(crate) fn sign(pair: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
        pair.sign(&SystemRandom::new(), message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn cosign_public_key_should_parse() {
        let keys = parse_public_keys(COSIGN_PUB).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].id().len(), 16);
    }

    #[test]
    fn several_blocks_and_surrounding_text_should_parse() {
        let (_, other) = key_pair();
        let text = format!("# team key\n{COSIGN_PUB}\n# release key\n{other}");
        assert_eq!(parse_public_keys(&text).unwrap().len(), 2);
        let set = KeySet::from_pems(&[text.as_str(), COSIGN_PUB]).unwrap();
        assert_eq!(set.len(), 2, "duplicates merge");
    }

    #[test]
    fn key_set_id_should_not_depend_on_order_but_on_content() {
        let (_, a) = key_pair();
        let (_, b) = key_pair();
        let ab = KeySet::from_pems(&[&a, &b]).unwrap();
        let ba = KeySet::from_pems(&[&b, &a]).unwrap();
        assert_eq!(ab.id(), ba.id());
        assert_ne!(ab.id(), KeySet::from_pems(&[&a]).unwrap().id());
    }

    #[test]
    fn other_key_types_should_be_refused_by_name() {
        let e = parse_public_keys(RSA_PUB).unwrap_err();
        assert!(
            e.contains("RSA keys of 1024 bits are not supported (2048 to 8192 bits)"),
            "{e}"
        );
        // `openssl ecparam -name secp521r1 -genkey | openssl ec -pubout`, truncated: the
        // algorithm is read before the key.
        let p521 = spki_pem(&[
            0x30, 0x1a, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x06, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04,
        ]);
        let e = parse_public_keys(&p521).unwrap_err();
        assert!(e.contains("ECDSA P-521 keys are not supported"), "{e}");
    }

    fn spki_pem(der: &[u8]) -> String {
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, der).unwrap()
    }

    #[test]
    fn ed25519_and_p384_keys_should_parse_and_verify() {
        use ring::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, Ed25519KeyPair};
        let rng = SystemRandom::new();
        assert_eq!(
            parse_public_keys(ED25519_PUB).unwrap()[0].kind(),
            KeyKind::Ed25519
        );
        assert_eq!(
            parse_public_keys(P384_PUB).unwrap()[0].kind(),
            KeyKind::EcdsaP384
        );

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(pair.public_key().as_ref());
        let set = KeySet::from_pems(&[spki_pem(&der)]).unwrap();
        let sig = pair.sign(b"payload");
        assert!(set.verify(b"payload", sig.as_ref()).is_some());
        assert!(set.verify(b"payload!", sig.as_ref()).is_none());

        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut der = vec![
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        ];
        der.extend_from_slice(pair.public_key().as_ref());
        let set = KeySet::from_pems(&[spki_pem(&der)]).unwrap();
        let sig = pair.sign(&rng, b"payload").unwrap();
        assert!(set.verify(b"payload", sig.as_ref()).is_some());
        assert!(set.verify(b"other", sig.as_ref()).is_none());
    }

    #[test]
    fn rsa_modulus_length_should_be_read() {
        let keys = parse_public_keys(RSA_PUB);
        assert!(keys.is_err());
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01, 0x01]), Some(1));
        assert_eq!(rsa_modulus_bits(b""), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x05, 0x01]), None);
    }

    #[test]
    fn private_keys_certificates_and_garbage_should_be_refused() {
        let private = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
        assert!(
            parse_public_keys(private)
                .unwrap_err()
                .contains("private key")
        );
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(parse_public_keys(cert).unwrap_err().contains("keyless"));
        assert!(
            parse_public_keys("")
                .unwrap_err()
                .contains("no `-----BEGIN")
        );
        assert!(parse_public_keys("-----BEGIN PUBLIC KEY-----\nAAAA\n").is_err());
        assert!(
            parse_public_keys("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----").is_err()
        );
        assert!(parse_public_keys("-----BEGIN PUB").is_err());
        let huge = "A".repeat(MAX_PEM_SIZE + 1);
        assert!(parse_public_keys(&huge).unwrap_err().contains("limit"));
        let e = KeySet::from_pems(&[COSIGN_PUB, RSA_PUB]).unwrap_err();
        assert!(matches!(e, PolicyError::InvalidKey { index: 1, .. }), "{e}");
    }

    #[test]
    fn signatures_should_verify_with_the_right_key_only() {
        let (pair, pem) = key_pair();
        let (_, other) = key_pair();
        let sig = sign(&pair, b"payload");
        let set = KeySet::from_pems(&[&other, &pem]).unwrap();
        assert!(set.verify(b"payload", &sig).is_some());
        assert!(set.verify(b"payload!", &sig).is_none());
        assert!(
            KeySet::from_pems(&[&other])
                .unwrap()
                .verify(b"payload", &sig)
                .is_none()
        );
        assert!(set.verify(b"payload", b"garbage").is_none());
    }
}
