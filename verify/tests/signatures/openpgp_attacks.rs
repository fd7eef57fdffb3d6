use crate::context::*;
use pi_verify::{
    KeyringError, OpenPgpKeyring, Rejection, SignatureKind, TrustPolicy, UnixTime, verify_commit,
    verify_commit_at, verify_tag,
};

fn refuse(raw: &[u8], policy: &TrustPolicy) -> Rejection {
    let r = verify_commit(raw, policy).expect_err("must be refused");
    assert!(!r.to_string().is_empty());
    r
}

#[test]
fn unknown_openpgp_key_should_be_refused_naming_its_fingerprint() {
    let r = refuse(&fixture("pgp/unknown-key.commit"), &pgp_policy());
    assert_eq!(
        r,
        Rejection::UnknownKey {
            fingerprint: pgp_fingerprint("MALLORY")
        }
    );
}

#[test]
fn openpgp_signature_copied_from_another_commit_should_be_refused() {
    let (_, signature) = split(&fixture("pgp/ed25519.commit"));
    let (other, _) = split(&fixture("pgp/rsa.commit"));
    let r = refuse(&graft(&other, &signature), &pgp_policy());
    assert_eq!(
        r,
        Rejection::BadSignature {
            fingerprint: pgp_fingerprint("ED25519")
        }
    );
}

#[test]
fn openpgp_commit_message_edited_after_signing_should_be_refused() {
    for (commit, key) in [
        ("ed25519.commit", "ED25519"),
        ("rsa.commit", "RSA"),
        ("ed25519-subkey.commit", "CAROL_SUB"),
        ("rsa-subkey.commit", "DAVE_SUB"),
    ] {
        let raw = fixture(&format!("pgp/{commit}"));
        let edited = replace(&raw, "Body of change", "Body of chAnge");
        assert_eq!(
            refuse(&edited, &pgp_policy()),
            Rejection::BadSignature {
                fingerprint: pgp_fingerprint(key)
            },
            "{commit}"
        );
    }
}

#[test]
fn openpgp_commit_author_edited_after_signing_should_be_refused() {
    let raw = fixture("pgp/ed25519.commit");
    let edited = replace(&raw, "author Alice Example", "author Mallory Examp");
    assert!(matches!(
        refuse(&edited, &pgp_policy()),
        Rejection::BadSignature { .. }
    ));
}

#[test]
fn expired_openpgp_key_should_be_refused() {
    let r = refuse(&fixture("pgp/expired-key.commit"), &pgp_policy());
    assert_eq!(
        r,
        Rejection::KeyExpired {
            fingerprint: pgp_fingerprint("ERIN"),
            // Created 2020-01-01T00:00:00Z with a one-day lifetime.
            expired_at: UnixTime(1_577_923_200),
        }
    );
}

#[test]
fn revoked_openpgp_key_should_be_refused() {
    let r = refuse(&fixture("pgp/revoked-key.commit"), &pgp_policy());
    assert!(
        matches!(&r, Rejection::KeyRevoked { fingerprint, .. } if *fingerprint == pgp_fingerprint("RITA")),
        "{r}"
    );
}

#[test]
fn revoked_openpgp_signing_subkey_should_be_refused() {
    let r = refuse(&fixture("pgp/revoked-subkey.commit"), &pgp_policy());
    assert!(
        matches!(&r, Rejection::KeyRevoked { fingerprint, .. } if *fingerprint == pgp_fingerprint("SAM_SUB")),
        "{r}"
    );
}

#[test]
fn garbage_openpgp_signature_should_be_refused() {
    let (unsigned, _) = split(&fixture("pgp/ed25519.commit"));
    for garbage in [
        "-----BEGIN PGP SIGNATURE-----\n\nnot base64\n-----END PGP SIGNATURE-----\n",
        "-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n",
        "-----BEGIN PGP SIGNATURE-----\n",
        "-----BEGIN PGP SIGNATURE-----\n\n\u{0}\u{7f}\n-----END PGP SIGNATURE-----\n",
    ] {
        let r = refuse(&graft(&unsigned, garbage.as_bytes()), &pgp_policy());
        assert!(
            matches!(
                r,
                Rejection::MalformedSignature {
                    kind: SignatureKind::OpenPgp,
                    ..
                }
            ),
            "{garbage:?}: {r}"
        );
    }
}

#[test]
fn truncated_openpgp_armor_should_be_refused() {
    let (unsigned, signature) = split(&fixture("pgp/rsa.commit"));
    let text = String::from_utf8(signature).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for keep in 1..lines.len() {
        let truncated = lines[..keep].join("\n") + "\n";
        let r = refuse(&graft(&unsigned, truncated.as_bytes()), &pgp_policy());
        assert!(
            !matches!(r, Rejection::Unsigned),
            "{keep} lines must not pass as anything but a refusal of the signature: {r}"
        );
    }
}

#[test]
fn one_mebibyte_openpgp_signature_header_should_be_refused_without_crash() {
    let (unsigned, _) = split(&fixture("pgp/ed25519.commit"));
    let mut huge = String::from("-----BEGIN PGP SIGNATURE-----\n\n");
    while huge.len() < 1 << 20 {
        huge.push_str("iQGzBAABCgAdFiEEGXjY/KZJElUvusM1Q6uhIEUxI+IFAmsLx7sACgkQQ6uhIEUx\n");
    }
    huge.push_str("-----END PGP SIGNATURE-----\n");
    let r = refuse(&graft(&unsigned, huge.as_bytes()), &pgp_policy());
    assert!(matches!(r, Rejection::SignatureTooLarge { .. }), "{r}");
}

#[test]
fn openpgp_signer_outside_the_identity_allow_list_should_be_refused() {
    let mut policy = pgp_policy();
    policy.allowed_identities = vec!["bob@example.org".into(), pgp_fingerprint("RSA")];
    let r = refuse(&fixture("pgp/ed25519.commit"), &policy);
    assert_eq!(
        r,
        Rejection::IdentityNotAllowed {
            signer: "Alice Ed25519 <alice@example.org>".into(),
            fingerprint: pgp_fingerprint("ED25519"),
        }
    );
}

#[test]
fn openpgp_signature_without_keyring_should_be_refused() {
    let r = refuse(
        &fixture("pgp/ed25519.commit"),
        &ssh_policy("allowed_signers"),
    );
    assert_eq!(
        r,
        Rejection::NoTrustMaterial {
            kind: SignatureKind::OpenPgp
        }
    );
}

#[test]
fn openpgp_tag_edited_after_signing_should_be_refused() {
    let raw = fixture("pgp/ed25519.tag");
    let edited = replace(&raw, "release v1.0.0-pgp", "release v6.6.6-pgp");
    let r = verify_tag(&edited, &pgp_policy()).unwrap_err();
    assert!(matches!(r, Rejection::BadSignature { .. }), "{r}");
}

#[test]
fn signature_made_while_the_key_was_valid_should_be_refused_once_the_key_expired() {
    // At 2020-01-01T06:00 the key was valid, but it has expired since (GnuPG: EXPKEYSIG).
    let raw = fixture("pgp/expired-key.commit");
    assert!(matches!(
        verify_commit_at(&raw, &pgp_policy(), later()),
        Err(Rejection::KeyExpired { .. })
    ));
}

#[test]
fn truncated_keyring_should_be_refused() {
    let text = fixture_text("pgp/ed25519.asc");
    let cut = &text[..text.len() / 2];
    let err = OpenPgpKeyring::parse(cut).unwrap_err();
    assert!(
        matches!(err, KeyringError::Malformed { block: 1, .. }),
        "{err}"
    );
}

#[test]
fn stale_copy_of_a_revoked_key_should_not_undo_the_revocation() {
    let stale = fixture_text("pgp/rita-before-revocation.asc");
    let current = fixture_text("pgp/keyring.asc");
    for text in [format!("{stale}{current}"), format!("{current}{stale}")] {
        let policy = TrustPolicy {
            openpgp: Some(OpenPgpKeyring::parse(&text).unwrap()),
            ..TrustPolicy::default()
        };
        let r = refuse(&fixture("pgp/revoked-key.commit"), &policy);
        assert!(matches!(r, Rejection::KeyRevoked { .. }), "{r}");
    }
    // Alone, the stale copy knows nothing of the revocation: that is what the operator gave.
    let policy = TrustPolicy {
        openpgp: Some(OpenPgpKeyring::parse(&stale).unwrap()),
        ..TrustPolicy::default()
    };
    assert!(verify_commit(&fixture("pgp/revoked-key.commit"), &policy).is_ok());
}

#[test]
fn openpgp_sha1_signature_should_be_refused() {
    let r = refuse(&fixture("pgp/sha1-digest.commit"), &pgp_policy());
    assert_eq!(
        r,
        Rejection::UnsupportedAlgorithm {
            algorithm: "OpenPGP hash SHA1".into()
        }
    );
}

#[test]
fn revoked_user_id_should_not_satisfy_the_identity_allow_list() {
    let raw = fixture("pgp/rsa.commit");
    let mut policy = pgp_policy();
    policy.allowed_identities = vec!["bob-old@example.org".into()];
    let r = refuse(&raw, &policy);
    assert_eq!(
        r,
        Rejection::IdentityNotAllowed {
            signer: "Bob RSA <bob@example.org>".into(),
            fingerprint: pgp_fingerprint("RSA"),
        }
    );
    policy.allowed_identities = vec!["bob@example.org".into()];
    assert!(verify_commit(&raw, &policy).is_ok());
}

/// Armors a certificate assembled from parts of recorded ones (packet surgery an attacker
/// can do without any secret key).
fn frankenstein(primary_of: &str, details_of: &str, subkeys_of: Option<&str>) -> OpenPgpKeyring {
    use pgp::composed::{ArmorOptions, Deserializable, SignedPublicKey};
    let load = |fpr_name: &str| {
        let wanted = pi_fingerprint_bytes(fpr_name);
        let armored = fixture("pgp/keyring.asc");
        let (keys, _) = SignedPublicKey::from_armor_many(armored.as_slice()).unwrap();
        keys.map(Result::unwrap)
            .find(|k| {
                use pgp::types::KeyDetails;
                k.primary_key.fingerprint().as_bytes() == wanted.as_slice()
            })
            .unwrap()
    };
    let primary = load(primary_of);
    let details = load(details_of);
    let subkeys = subkeys_of.map_or_else(Vec::new, |n| load(n).public_subkeys);
    let cert = SignedPublicKey {
        primary_key: primary.primary_key,
        details: details.details,
        public_subkeys: subkeys,
    };
    OpenPgpKeyring::parse(&cert.to_armored_string(ArmorOptions::default()).unwrap()).unwrap()
}

fn pi_fingerprint_bytes(name: &str) -> Vec<u8> {
    let hex = pgp_fingerprint(name);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn user_id_grafted_from_another_key_should_not_make_a_key_usable() {
    // Alice's key with Bob's user ID and Bob's self-signature on it.
    let keyring = frankenstein("ED25519", "RSA", None);
    assert!(
        keyring.certificates()[0].user_ids.is_empty(),
        "Bob's ID must not become Alice's"
    );
    let policy = TrustPolicy {
        openpgp: Some(keyring),
        ..TrustPolicy::default()
    };
    let r = refuse(&fixture("pgp/ed25519.commit"), &policy);
    assert!(
        matches!(&r, Rejection::KeyNotForSigning { fingerprint, why }
            if *fingerprint == pgp_fingerprint("ED25519") && why.contains("self-signature")),
        "{r}"
    );
}

#[test]
fn signing_subkey_grafted_onto_another_key_should_be_refused() {
    // Carol's signing subkey (bound by Carol's primary) attached to Alice's key.
    let keyring = frankenstein("ED25519", "ED25519", Some("CAROL"));
    let policy = TrustPolicy {
        openpgp: Some(keyring),
        ..TrustPolicy::default()
    };
    let r = refuse(&fixture("pgp/ed25519-subkey.commit"), &policy);
    assert!(
        matches!(&r, Rejection::KeyNotForSigning { fingerprint, why }
            if *fingerprint == pgp_fingerprint("CAROL_SUB") && why.contains("binding")),
        "{r}"
    );
}
