use crate::context::*;
use pi_verify::{
    OpenPgpKeyring, SignatureKind, TrustPolicy, verify_commit, verify_commit_at, verify_tag,
};

fn accepts(commit: &str, key: &str, signer: &str) {
    let raw = fixture(&format!("pgp/{commit}"));
    let v = verify_commit(&raw, &pgp_policy()).unwrap_or_else(|e| panic!("{commit} refused: {e}"));
    assert_eq!(v.kind, SignatureKind::OpenPgp);
    assert_eq!(v.key_fingerprint, pgp_fingerprint(key));
    assert_eq!(v.signer, signer);
}

#[test]
fn openpgp_ed25519_primary_key_commit_should_be_accepted() {
    accepts(
        "ed25519.commit",
        "ED25519",
        "Alice Ed25519 <alice@example.org>",
    );
}

#[test]
fn openpgp_rsa_primary_key_commit_should_be_accepted() {
    accepts("rsa.commit", "RSA", "Bob RSA <bob@example.org>");
}

#[test]
fn openpgp_ed25519_signing_subkey_commit_should_be_accepted() {
    accepts(
        "ed25519-subkey.commit",
        "CAROL_SUB",
        "Carol Subkey <carol@example.org>",
    );
}

#[test]
fn openpgp_rsa_signing_subkey_commit_should_be_accepted() {
    accepts(
        "rsa-subkey.commit",
        "DAVE_SUB",
        "Dave RSA Subkey <dave@example.org>",
    );
}

#[test]
fn openpgp_signed_annotated_tag_should_be_accepted() {
    let v = verify_tag(&fixture("pgp/ed25519.tag"), &pgp_policy()).unwrap();
    assert_eq!(v.key_fingerprint, pgp_fingerprint("ED25519"));
}

#[test]
fn openpgp_commit_should_be_accepted_at_a_later_time() {
    let raw = fixture("pgp/ed25519.commit");
    assert!(verify_commit_at(&raw, &pgp_policy(), later()).is_ok());
}

#[test]
fn allowed_identity_should_accept_email_uid_or_fingerprints() {
    let raw = fixture("pgp/ed25519-subkey.commit");
    for identity in [
        "carol@example.org".to_owned(),
        "CAROL@example.org".to_owned(),
        "Carol Subkey <carol@example.org>".to_owned(),
        pgp_fingerprint("CAROL"),
        pgp_fingerprint("CAROL_SUB").to_lowercase(),
    ] {
        let mut policy = pgp_policy();
        policy.allowed_identities = vec![identity.clone()];
        assert!(verify_commit(&raw, &policy).is_ok(), "{identity}");
    }
}

#[test]
fn keyring_should_parse_concatenated_blocks() {
    let text = fixture_text("pgp/ed25519.asc") + &fixture_text("pgp/unknown.asc");
    let keyring = OpenPgpKeyring::parse(&text).unwrap();
    assert_eq!(keyring.certificates().len(), 2);
    let policy = TrustPolicy {
        openpgp: Some(keyring),
        ..TrustPolicy::default()
    };
    assert!(verify_commit(&fixture("pgp/ed25519.commit"), &policy).is_ok());
    assert!(verify_commit(&fixture("pgp/unknown-key.commit"), &policy).is_ok());
}

#[test]
fn keyring_should_list_user_ids_with_good_self_signatures() {
    let keyring = OpenPgpKeyring::parse(&fixture_text("pgp/keyring.asc")).unwrap();
    assert_eq!(keyring.certificates().len(), 7);
    let alice = &keyring.certificates()[0];
    assert_eq!(alice.fingerprint, pgp_fingerprint("ED25519"));
    assert_eq!(alice.user_ids, ["Alice Ed25519 <alice@example.org>"]);
    assert_eq!(alice.emails().collect::<Vec<_>>(), ["alice@example.org"]);
}
