use crate::context::*;
use pi_verify::{SignatureKind, UnixTime, verify_commit, verify_tag};

fn accepts(commit: &str, key: &str, principals: &str) {
    let raw = fixture(&format!("ssh/{commit}"));
    let v = verify_commit(&raw, &ssh_policy("allowed_signers"))
        .unwrap_or_else(|e| panic!("{commit} refused: {e}"));
    assert_eq!(v.kind, SignatureKind::Ssh);
    assert_eq!(v.key_fingerprint, ssh_fingerprint(key));
    assert_eq!(v.signer, principals);
    assert_eq!(v.committer_email, "alice@example.org");
    assert_eq!(v.time, UnixTime(1_705_320_000));
}

#[test]
fn ssh_ed25519_commit_should_be_accepted() {
    accepts("ed25519.commit", "ed25519", "alice@example.org");
}

#[test]
fn ssh_ecdsa_p256_commit_should_be_accepted() {
    accepts(
        "ecdsa256.commit",
        "ecdsa256",
        "alice@example.org,release@example.org",
    );
}

#[test]
fn ssh_ecdsa_p384_commit_should_be_accepted_through_a_wildcard_principal() {
    accepts("ecdsa384.commit", "ecdsa384", "*@example.org");
}

#[test]
fn ssh_rsa_sha2_512_commit_should_be_accepted() {
    accepts("rsa.commit", "rsa", "alice@example.org");
}

#[test]
fn ssh_signature_hashing_the_message_with_sha256_should_be_accepted() {
    accepts("ed25519-sha256-hash.commit", "ed25519", "alice@example.org");
}

#[test]
fn ssh_signed_annotated_tag_should_be_accepted() {
    let raw = fixture("ssh/ed25519.tag");
    let v = verify_tag(&raw, &ssh_policy("allowed_signers")).unwrap();
    assert_eq!(v.key_fingerprint, ssh_fingerprint("ed25519"));
    assert_eq!(v.signer, "alice@example.org");
}

#[test]
fn ssh_rsa_sha2_256_signature_should_be_accepted() {
    let raw = sign_rsa_sha2_256(&split(&fixture("ssh/rsa.commit")).0);
    let v = verify_commit(&raw, &ssh_policy("allowed_signers")).unwrap();
    assert_eq!(v.key_fingerprint, ssh_fingerprint("rsa"));
}

#[test]
fn allowed_identity_should_accept_principal_or_fingerprint() {
    let raw = fixture("ssh/ed25519.commit");
    for identity in ["alice@example.org".to_owned(), ssh_fingerprint("ed25519")] {
        let mut policy = ssh_policy("allowed_signers");
        policy.allowed_identities = vec!["someone@else.org".into(), identity.clone()];
        assert!(verify_commit(&raw, &policy).is_ok(), "{identity}");
    }
}

/// ssh-keygen always signs with rsa-sha2-512, so an rsa-sha2-256 SSHSIG is made here with ring
/// and the recorded key (exported by record.sh as PKCS#8), following PROTOCOL.sshsig.
pub fn sign_rsa_sha2_256(unsigned_commit: &[u8]) -> Vec<u8> {
    sign_rsa_labelled(unsigned_commit, "rsa-sha2-256")
}

/// An SSHSIG signed with RSA PKCS#1 SHA-256 but carrying `algorithm` as its signature name.
pub fn sign_rsa_labelled(unsigned_commit: &[u8], algorithm: &str) -> Vec<u8> {
    use base64ct::{Base64, Encoding};
    let pem = fixture_text("ssh/rsa.pkcs8.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = Base64::decode_vec(&body).unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let public_blob =
        Base64::decode_vec(fixture_text("ssh/rsa.pub").split(' ').nth(1).unwrap()).unwrap();

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let digest = ring::digest::digest(&ring::digest::SHA512, unsigned_commit);
    let mut signed = b"SSHSIG".to_vec();
    string(&mut signed, b"git");
    string(&mut signed, b"");
    string(&mut signed, b"sha512");
    string(&mut signed, digest.as_ref());
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        &signed,
        &mut sig,
    )
    .unwrap();
    let mut sig_blob = Vec::new();
    string(&mut sig_blob, algorithm.as_bytes());
    string(&mut sig_blob, &sig);

    let mut blob = b"SSHSIG".to_vec();
    blob.extend_from_slice(&1u32.to_be_bytes());
    string(&mut blob, &public_blob);
    string(&mut blob, b"git");
    string(&mut blob, b"");
    string(&mut blob, b"sha512");
    string(&mut blob, &sig_blob);
    let b64 = Base64::encode_string(&blob);
    let mut armor = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        armor.push_str(std::str::from_utf8(chunk).unwrap());
        armor.push('\n');
    }
    armor.push_str("-----END SSH SIGNATURE-----\n");
    graft(unsigned_commit, armor.as_bytes())
}

#[test]
fn ssh_commit_of_a_sha256_repository_should_be_accepted_in_that_format_only() {
    let raw = fixture("ssh/ed25519-sha256-repo.commit");
    let policy = ssh_policy("allowed_signers");
    let v = pi_verify::verify_commit_in(
        &raw,
        pi_verify::ObjectFormat::Sha256,
        &policy,
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert_eq!(v.key_fingerprint, ssh_fingerprint("ed25519"));
    // Read as a SHA-1 repository's commit, it carries no `gpgsig` header: unsigned.
    assert_eq!(
        verify_commit(&raw, &policy),
        Err(pi_verify::Rejection::Unsigned)
    );
}
