//! Files encrypted by the real `sops` v3.13 with keys from `age-keygen` and GnuPG
//! (`tests/fixtures/record.sh`): each must decrypt to what `sops --decrypt` printed, and each
//! attack on them must be refused.

use std::path::PathBuf;

use sops::{Error, Format, Keyring};

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/fixtures/record.sh)", p.display()))
}

fn text(path: &str) -> String {
    String::from_utf8(fixture(path)).unwrap()
}

fn keys(age: &[&str], pgp: bool) -> Keyring {
    let mut k = Keyring::new();
    for a in age {
        k.add_age_identities(a, &text(&format!("keys/{a}.agekey")))
            .unwrap();
    }
    if pgp {
        k.add_pgp_keys("pgp.asc", &fixture("keys/pgp.asc")).unwrap();
    }
    k
}

fn all_keys() -> Keyring {
    keys(&["one", "two", "three"], true)
}

/// sops keeps comments of YAML files, pi-sops does not read them: compare without them.
fn without_comments(s: &str) -> String {
    s.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

const FILES: [&str; 15] = [
    "secret-all.yaml",
    "secret.yaml",
    "secret-pgp.yaml",
    "secret-two.yaml",
    "types.yaml",
    "multi.yaml",
    "unencrypted-suffix.yaml",
    "encrypted-suffix.yaml",
    "unencrypted-regex.yaml",
    "mac-only.yaml",
    "config.json",
    "app.env",
    "token.bin",
    "key.pem",
    "shamir.yaml",
];

#[test]
fn every_fixture_should_decrypt_to_what_sops_prints() {
    let k = all_keys();
    for f in FILES {
        let format = Format::for_path(f);
        let got = sops::decrypt(&fixture(&format!("enc/{f}")), format, &k)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let want = fixture(&format!("dec/{f}"));
        if format == Format::Yaml {
            let got = String::from_utf8(got).unwrap();
            let want = without_comments(&String::from_utf8(want).unwrap());
            assert_eq!(got, want, "{f}");
        } else {
            assert_eq!(got, want, "{f}: {}", String::from_utf8_lossy(&got));
        }
    }
}

#[test]
fn age_alone_and_pgp_alone_should_each_open_files_encrypted_to_both() {
    for (name, k) in [("age", keys(&["one"], false)), ("pgp", keys(&[], true))] {
        let got = sops::decrypt(&fixture("enc/types.yaml"), Format::Yaml, &k)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8(got).unwrap(),
            without_comments(&text("dec/types.yaml")),
            "{name}"
        );
    }
    let got = sops::decrypt(
        &fixture("enc/secret-pgp.yaml"),
        Format::Yaml,
        &keys(&[], true),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        without_comments(&text("dec/secret-pgp.yaml"))
    );
}

#[test]
fn shamir_should_need_two_of_three_groups() {
    let enc = fixture("enc/shamir.yaml");
    for (k, ok) in [
        (keys(&["one", "two"], false), true),
        (keys(&["one"], true), true),
        (keys(&["two"], true), true),
        (keys(&["one"], false), false),
        (keys(&[], true), false),
    ] {
        let r = sops::decrypt(&enc, Format::Yaml, &k);
        assert_eq!(r.is_ok(), ok, "{k:?}: {r:?}");
        if let Err(e) = r {
            assert!(matches!(e, Error::NoKey { .. }), "{e}");
            assert!(e.to_string().contains("2 of 3 key groups"), "{e}");
        }
    }
}

#[test]
fn a_wrong_key_should_be_refused_naming_the_recipient() {
    let e = sops::decrypt(
        &fixture("enc/secret-two.yaml"),
        Format::Yaml,
        &keys(&["one", "three"], true),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NoKey { .. }), "{msg}");
    let r2 = text("keys/two.agekey")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    assert!(msg.contains(&r2), "{msg}");
    assert!(!msg.contains("AGE-SECRET-KEY"), "{msg}");
}

#[test]
fn a_missing_key_should_be_refused() {
    let e = sops::decrypt(&fixture("enc/secret.yaml"), Format::Yaml, &Keyring::new()).unwrap_err();
    assert!(e.to_string().contains("no age identity was given"), "{e}");
    let e = sops::decrypt(
        &fixture("enc/secret-pgp.yaml"),
        Format::Yaml,
        &keys(&["one"], false),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no OpenPGP secret key was given"),
        "{e}"
    );
}

/// Replaces the `n`-th encrypted value of `key:` in a YAML file.
fn value_of(file: &str, key: &str) -> String {
    file.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}: ")))
        .unwrap()
        .to_owned()
}

#[test]
fn a_tampered_value_should_be_refused() {
    let enc = text("enc/secret.yaml");
    let v = value_of(&enc, "password");
    // One byte of the ciphertext changed.
    let data_start = v.find("data:").unwrap() + 5;
    let mut bytes = v.clone().into_bytes();
    bytes[data_start] = if bytes[data_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = enc.replace(&v, &String::from_utf8(bytes).unwrap());
    let e = sops::decrypt(tampered.as_bytes(), Format::Yaml, &all_keys()).unwrap_err();
    assert!(e.to_string().contains("stringData.password"), "{e}");
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
}

#[test]
fn values_swapped_between_keys_should_be_refused() {
    let enc = text("enc/secret.yaml");
    let (u, p) = (value_of(&enc, "username"), value_of(&enc, "password"));
    let swapped = enc
        .replace(&u, "@@U@@")
        .replace(&p, &u)
        .replace("@@U@@", &p);
    let e = sops::decrypt(swapped.as_bytes(), Format::Yaml, &all_keys()).unwrap_err();
    assert!(matches!(e, Error::Value { .. }), "{e}");
}

#[test]
fn a_value_from_another_data_key_should_be_refused() {
    let one = text("enc/secret.yaml");
    let two = text("enc/secret-two.yaml");
    let foreign = one.replace(&value_of(&one, "password"), &value_of(&two, "password"));
    let e = sops::decrypt(foreign.as_bytes(), Format::Yaml, &all_keys()).unwrap_err();
    assert!(
        matches!(&e, Error::Value { path, .. } if path == "stringData.password"),
        "{e}"
    );
}

#[test]
fn a_changed_clear_value_should_break_the_mac() {
    let enc = text("enc/secret.yaml");
    let tampered = enc.replace("name: db", "name: dbx");
    assert_eq!(
        sops::decrypt(tampered.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacMismatch
    );
    // With mac_only_encrypted, clear values are outside the MAC, as sops says.
    let enc = text("enc/mac-only.yaml");
    let changed = enc.replace("name: db", "name: dbx");
    assert!(sops::decrypt(changed.as_bytes(), Format::Yaml, &all_keys()).is_ok());
    // … but encrypted ones are not.
    let v = value_of(&enc, "username");
    let dropped = enc.replace(&format!("    username: {v}\n"), "");
    assert_eq!(
        sops::decrypt(dropped.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacMismatch
    );
}

#[test]
fn a_removed_or_reordered_value_should_break_the_mac() {
    let enc = text("enc/secret.yaml");
    let u = value_of(&enc, "username");
    let removed = enc.replace(&format!("    username: {u}\n"), "");
    assert_eq!(
        sops::decrypt(removed.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacMismatch
    );
    let lines: Vec<&str> = enc.lines().collect();
    let (i, j) = (
        lines
            .iter()
            .position(|l| l.starts_with("    username:"))
            .unwrap(),
        lines
            .iter()
            .position(|l| l.starts_with("    url:"))
            .unwrap(),
    );
    let mut moved = lines.clone();
    moved.swap(i, j);
    let moved = moved.join("\n") + "\n";
    assert_eq!(
        sops::decrypt(moved.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacMismatch
    );
}

#[test]
fn a_tampered_mac_should_be_refused() {
    let enc = text("enc/secret.yaml");
    let mac = enc
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("mac: "))
        .unwrap()
        .to_owned();
    let other = text("enc/secret-two.yaml");
    let other_mac = other
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("mac: "))
        .unwrap();
    let swapped = enc.replace(&mac, other_mac);
    assert!(matches!(
        sops::decrypt(swapped.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacUnreadable(_)
    ));
    let emptied = enc.replace(&mac, "\"\"");
    assert_eq!(
        sops::decrypt(emptied.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacMismatch
    );
    // lastmodified is the MAC's additional data.
    let redated = enc
        .replacen("lastmodified: \"", "lastmodified: \"1", 1)
        .replacen("lastmodified: \"12", "lastmodified: \"2", 1);
    let lm = enc.lines().find(|l| l.contains("lastmodified")).unwrap();
    let redated = if redated == enc {
        enc.replace(lm, "    lastmodified: \"2001-01-01T00:00:00Z\"")
    } else {
        redated
    };
    assert!(matches!(
        sops::decrypt(redated.as_bytes(), Format::Yaml, &all_keys()).unwrap_err(),
        Error::MacUnreadable(_)
    ));
}

#[test]
fn a_truncated_file_should_be_refused() {
    for f in ["secret.yaml", "config.json", "app.env", "token.bin"] {
        let enc = fixture(&format!("enc/{f}"));
        let format = Format::for_path(f);
        for cut in [enc.len() / 2, enc.len() - 40, 10] {
            let r = sops::decrypt(&enc[..cut], format, &all_keys());
            assert!(r.is_err(), "{f} cut at {cut}");
        }
    }
}

#[test]
fn a_value_added_in_clear_should_be_refused() {
    let enc = text("enc/secret.yaml");
    let added = enc.replace("stringData:\n", "stringData:\n    injected: plain\n");
    let e = sops::decrypt(added.as_bytes(), Format::Yaml, &all_keys()).unwrap_err();
    assert!(
        matches!(&e, Error::Value { path, .. } if path == "stringData.injected"),
        "{e}"
    );
}

#[test]
fn dotenv_and_binary_tampering_should_be_refused() {
    let env = text("enc/app.env");
    let tampered = env.replace("EMPTY=", "EMPTY=x");
    assert!(sops::decrypt(tampered.as_bytes(), Format::Dotenv, &all_keys()).is_err());
    let bin = text("enc/token.bin");
    let v = bin
        .lines()
        .find(|l| l.contains("\"data\""))
        .unwrap()
        .to_owned();
    let other = text("enc/key.pem");
    let w = other.lines().find(|l| l.contains("\"data\"")).unwrap();
    let swapped = bin.replace(&v, w);
    assert!(sops::decrypt(swapped.as_bytes(), Format::Binary, &all_keys()).is_err());
}

#[test]
fn flux_style_secrets_should_load_keys_by_extension() {
    let mut data = std::collections::BTreeMap::new();
    data.insert("identity.agekey".to_owned(), fixture("keys/one.agekey"));
    data.insert("other.asc".to_owned(), fixture("keys/pgp.asc"));
    data.insert("sops.vault-token".to_owned(), b"ignored".to_vec());
    let k = Keyring::from_secret_data("sops-keys", &data).unwrap();
    assert_eq!(k.counts(), (1, 1));
    data.insert("bad.asc".to_owned(), fixture("keys/protected.asc"));
    let e = Keyring::from_secret_data("sops-keys", &data).unwrap_err();
    assert!(
        e.to_string().contains("passphrase") && e.to_string().contains("bad.asc"),
        "{e}"
    );
    let mut public = std::collections::BTreeMap::new();
    public.insert("pub.asc".to_owned(), fixture("keys/pgp.pub.asc"));
    assert!(Keyring::from_secret_data("s", &public).is_err());
}
