use crate::context::*;
use pi_verify::{
    AllowedSigners, ParseErrorKind, Rejection, SignatureKind, TrustPolicy, UnixTime, verify_commit,
    verify_tag,
};

fn refuse(raw: &[u8], policy: &TrustPolicy) -> Rejection {
    let r = verify_commit(raw, policy).expect_err("must be refused");
    assert!(!r.to_string().is_empty());
    r
}

#[test]
fn unsigned_commit_should_be_refused() {
    let r = refuse(
        &fixture("ssh/unsigned.commit"),
        &ssh_policy("allowed_signers"),
    );
    assert_eq!(r, Rejection::Unsigned);
}

#[test]
fn unknown_ssh_key_should_be_refused_naming_its_fingerprint() {
    let r = refuse(
        &fixture("ssh/unknown-key.commit"),
        &ssh_policy("allowed_signers"),
    );
    assert_eq!(
        r,
        Rejection::UnknownKey {
            fingerprint: ssh_fingerprint("unknown")
        }
    );
    assert!(r.to_string().contains(&ssh_fingerprint("unknown")));
}

#[test]
fn ssh_signature_copied_from_another_commit_should_be_refused() {
    let (_, signature) = split(&fixture("ssh/ed25519.commit"));
    let (other, _) = split(&fixture("ssh/ed25519-second.commit"));
    let r = refuse(&graft(&other, &signature), &ssh_policy("allowed_signers"));
    assert_eq!(
        r,
        Rejection::BadSignature {
            fingerprint: ssh_fingerprint("ed25519")
        }
    );
}

#[test]
fn ssh_commit_message_edited_after_signing_should_be_refused() {
    let policy = ssh_policy("allowed_signers");
    for (commit, key) in [
        ("ed25519.commit", "ed25519"),
        ("ecdsa256.commit", "ecdsa256"),
        ("ecdsa384.commit", "ecdsa384"),
        ("rsa.commit", "rsa"),
    ] {
        let raw = fixture(&format!("ssh/{commit}"));
        let edited = replace(&raw, "Body of change", "Body of chAnge");
        assert_eq!(
            refuse(&edited, &policy),
            Rejection::BadSignature {
                fingerprint: ssh_fingerprint(key)
            },
            "{commit}"
        );
    }
}

#[test]
fn ssh_commit_tree_swapped_after_signing_should_be_refused() {
    let raw = fixture("ssh/ed25519.commit");
    // Point the signed commit at another tree (the attack that matters: same message, other
    // content).
    let tree = String::from_utf8(raw[5..45].to_vec()).unwrap();
    let other: String = tree.chars().rev().collect();
    let edited = replace(&raw, &tree, &other);
    assert!(matches!(
        refuse(&edited, &ssh_policy("allowed_signers")),
        Rejection::BadSignature { .. }
    ));
}

#[test]
fn ssh_signature_in_namespace_file_should_be_refused() {
    let r = refuse(
        &fixture("ssh/wrong-namespace.commit"),
        &ssh_policy("allowed_signers"),
    );
    assert_eq!(
        r,
        Rejection::WrongNamespace {
            found: "file".into()
        }
    );
}

#[test]
fn allowed_signers_entry_without_git_namespace_should_be_refused() {
    let r = refuse(
        &fixture("ssh/ed25519.commit"),
        &ssh_policy("allowed_signers_file_namespace"),
    );
    assert!(matches!(r, Rejection::NamespaceNotAllowed { .. }), "{r}");
}

#[test]
fn expired_allowed_signers_entry_should_be_refused() {
    let r = refuse(
        &fixture("ssh/ed25519.commit"),
        &ssh_policy("allowed_signers_expired"),
    );
    assert_eq!(
        r,
        Rejection::SignerExpired {
            principal: "alice@example.org".into(),
            valid_before: UnixTime(1_672_531_200),
            at: UnixTime(1_705_320_000),
        }
    );
}

#[test]
fn not_yet_valid_allowed_signers_entry_should_be_refused() {
    let r = refuse(
        &fixture("ssh/ed25519.commit"),
        &ssh_policy("allowed_signers_not_yet_valid"),
    );
    assert!(matches!(r, Rejection::SignerNotYetValid { .. }), "{r}");
}

#[test]
fn cert_authority_line_should_be_refused_clearly() {
    let err =
        AllowedSigners::parse(&fixture_text("ssh/allowed_signers_cert_authority")).unwrap_err();
    assert_eq!(err.line, 1);
    assert_eq!(err.kind, ParseErrorKind::CertificateAuthorityUnsupported);
    assert!(err.to_string().contains("line 1"));
}

#[test]
fn garbage_ssh_signature_should_be_refused() {
    let (unsigned, _) = split(&fixture("ssh/ed25519.commit"));
    for garbage in [
        "-----BEGIN SSH SIGNATURE-----\nnot base64 at all\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\n\u{0}\u{1}\n",
    ] {
        let r = refuse(
            &graft(&unsigned, garbage.as_bytes()),
            &ssh_policy("allowed_signers"),
        );
        assert!(
            matches!(
                r,
                Rejection::MalformedSignature {
                    kind: SignatureKind::Ssh,
                    ..
                }
            ),
            "{garbage:?}: {r}"
        );
    }
}

#[test]
fn truncated_ssh_armor_should_be_refused() {
    let (unsigned, signature) = split(&fixture("ssh/ed25519.commit"));
    let text = String::from_utf8(signature).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for keep in 1..lines.len() {
        let truncated = lines[..keep].join("\n") + "\n";
        let r = refuse(
            &graft(&unsigned, truncated.as_bytes()),
            &ssh_policy("allowed_signers"),
        );
        assert!(
            matches!(r, Rejection::MalformedSignature { .. }),
            "{keep} lines: {r}"
        );
    }
}

#[test]
fn one_mebibyte_signature_header_should_be_refused_without_crash() {
    let (unsigned, _) = split(&fixture("ssh/ed25519.commit"));
    let mut huge = String::from("-----BEGIN SSH SIGNATURE-----\n");
    let line = "A".repeat(70) + "\n";
    while huge.len() < 1 << 20 {
        huge.push_str(&line);
    }
    huge.push_str("-----END SSH SIGNATURE-----\n");
    let r = refuse(
        &graft(&unsigned, huge.as_bytes()),
        &ssh_policy("allowed_signers"),
    );
    assert_eq!(
        r,
        Rejection::SignatureTooLarge {
            limit: pi_verify::MAX_SIGNATURE_SIZE
        }
    );
    // One 1 MiB line, no continuation lines.
    let one_line = format!("-----BEGIN SSH SIGNATURE-----{}", "A".repeat(1 << 20));
    let r = refuse(
        &graft(&unsigned, one_line.as_bytes()),
        &ssh_policy("allowed_signers"),
    );
    assert!(matches!(r, Rejection::SignatureTooLarge { .. }), "{r}");
}

#[test]
fn ssh_signer_outside_the_identity_allow_list_should_be_refused() {
    let mut policy = ssh_policy("allowed_signers");
    policy.allowed_identities = vec!["bob@example.org".into(), ssh_fingerprint("unknown")];
    let r = refuse(&fixture("ssh/ed25519.commit"), &policy);
    assert_eq!(
        r,
        Rejection::IdentityNotAllowed {
            signer: "alice@example.org".into(),
            fingerprint: ssh_fingerprint("ed25519"),
        }
    );
}

#[test]
fn wildcard_principal_should_not_satisfy_a_literal_identity() {
    // `*@example.org` in allowed_signers is a pattern, not a proof that the signer is bob.
    let mut policy = ssh_policy("allowed_signers");
    policy.allowed_identities = vec!["bob@example.org".into()];
    let r = refuse(&fixture("ssh/ecdsa384.commit"), &policy);
    assert!(matches!(r, Rejection::IdentityNotAllowed { .. }), "{r}");
}

#[test]
fn ssh_signature_without_allowed_signers_should_be_refused() {
    let r = refuse(&fixture("ssh/ed25519.commit"), &pgp_policy());
    assert_eq!(
        r,
        Rejection::NoTrustMaterial {
            kind: SignatureKind::Ssh
        }
    );
}

#[test]
fn ssh_tag_edited_after_signing_should_be_refused() {
    let raw = fixture("ssh/ed25519.tag");
    let edited = replace(&raw, "tag v1.0.0-ssh", "tag v9.0.0-ssh");
    let r = verify_tag(&edited, &ssh_policy("allowed_signers")).unwrap_err();
    assert!(matches!(r, Rejection::BadSignature { .. }), "{r}");
}

#[test]
fn lightweight_tag_should_be_refused_under_tag_mode() {
    // A lightweight tag resolves straight to the commit: there is no tag object to verify.
    let r = verify_tag(
        &fixture("ssh/ed25519.commit"),
        &ssh_policy("allowed_signers"),
    )
    .unwrap_err();
    assert_eq!(r, Rejection::NotAnAnnotatedTag);
}

#[test]
fn ssh_tag_signature_should_not_verify_a_commit() {
    // The tag's signature grafted onto the commit it points at.
    let tag = fixture("ssh/ed25519.tag");
    let start = tag
        .windows(29)
        .position(|w| w == b"-----BEGIN SSH SIGNATURE-----")
        .unwrap();
    let (unsigned, _) = split(&fixture("ssh/ed25519.commit"));
    let r = refuse(
        &graft(&unsigned, &tag[start..]),
        &ssh_policy("allowed_signers"),
    );
    assert!(matches!(r, Rejection::BadSignature { .. }), "{r}");
}

#[test]
fn negated_principal_should_not_hide_other_entries_of_the_key() {
    // ssh-keygen find-principals semantics: any entry of the key that allows `git` is enough.
    let ed = fixture_text("ssh/ed25519.pub");
    let key: String = ed.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let signers = AllowedSigners::parse(&format!(
        "old@example.org valid-before=\"20200101\" {key}\nalice@example.org {key}\n"
    ))
    .unwrap();
    let policy = TrustPolicy {
        allowed_signers: Some(signers),
        ..TrustPolicy::default()
    };
    let v = verify_commit(&fixture("ssh/ed25519.commit"), &policy).unwrap();
    assert_eq!(v.signer, "alice@example.org");
}

#[test]
fn ssh_rsa_sha1_signature_algorithm_should_be_refused() {
    let (unsigned, _) = split(&fixture("ssh/rsa.commit"));
    let raw = crate::ssh_accept::sign_rsa_labelled(&unsigned, "ssh-rsa");
    assert_eq!(
        refuse(&raw, &ssh_policy("allowed_signers")),
        Rejection::UnsupportedAlgorithm {
            algorithm: "ssh-rsa (RSA with SHA-1)".into()
        }
    );
    // A PKCS#1 SHA-256 signature labelled rsa-sha2-512 does not verify as SHA-512.
    let raw = crate::ssh_accept::sign_rsa_labelled(&unsigned, "rsa-sha2-512");
    assert!(matches!(
        refuse(&raw, &ssh_policy("allowed_signers")),
        Rejection::BadSignature { .. }
    ));
    // An RSA signature labelled ed25519 on an RSA key.
    let raw = crate::ssh_accept::sign_rsa_labelled(&unsigned, "ssh-ed25519");
    assert!(matches!(
        refuse(&raw, &ssh_policy("allowed_signers")),
        Rejection::MalformedSignature { .. }
    ));
}

#[test]
fn ssh_nistp521_signature_should_be_refused_by_name_while_other_keys_still_verify() {
    // git accepts it (record.sh checks); ring has no P-521, so the agent refuses it clearly.
    let policy = ssh_policy("allowed_signers");
    let r = refuse(&fixture("ssh/ecdsa521.commit"), &policy);
    assert_eq!(
        r,
        Rejection::UnsupportedAlgorithm {
            algorithm: "ecdsa-sha2-nistp521".into()
        }
    );
    assert!(verify_commit(&fixture("ssh/ed25519.commit"), &policy).is_ok());
}
