//! Git commit and tag objects, read as git reads them to check a signature
//! (`commit.c:parse_buffer_signed_by_header`, `gpg-interface.c:parse_signed_buffer`).
//!
//! Input is the object *content*: the bytes after git's `commit <len>\0` / `tag <len>\0`
//! header, as `git cat-file commit <id>` prints them and as gix hands them out as `data`.

use crate::error::{Rejection, SignatureKind};
use crate::time::UnixTime;

/// Objects over this size are refused before they are read (commits and tags are a few KiB).
pub const MAX_OBJECT_SIZE: usize = 4 * 1024 * 1024;
/// Signatures over this size are refused (an SSH RSA-8192 or OpenPGP signature is under 2 KiB).
pub const MAX_SIGNATURE_SIZE: usize = 64 * 1024;

/// Every commit header that starts with this holds a signature and is not signed itself.
const ANY_SIG_HEADER: &[u8] = b"gpgsig";

/// The hash function of the repository, which decides which commit header git verifies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ObjectFormat {
    /// SHA-1 repositories (nearly all): the `gpgsig` header.
    #[default]
    Sha1,
    /// SHA-256 repositories (`git init --object-format=sha256`): the `gpgsig-sha256` header.
    Sha256,
}

impl ObjectFormat {
    /// The commit header git reads the signature from (`gpg_sig_headers[]` in git).
    pub fn signature_header(self) -> &'static str {
        match self {
            ObjectFormat::Sha1 => "gpgsig",
            ObjectFormat::Sha256 => "gpgsig-sha256",
        }
    }
}

/// A signed git object split the way git splits it to verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedObject {
    /// The exact bytes the signature covers.
    pub payload: Vec<u8>,
    /// The armored signature (`-----BEGIN … SIGNATURE-----` … `-----END …-----\n`).
    pub signature: Vec<u8>,
    /// Which kind of signature the armor says it is.
    pub kind: SignatureKind,
    /// The committer (commit) or tagger (tag) identity: time and email.
    pub signer: SignerLine,
}

/// The `committer` or `tagger` line of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerLine {
    /// Name as written, without the email.
    pub name: String,
    /// The email between `<` and `>`.
    pub email: String,
    /// Seconds since the epoch (git's own timestamp; the time zone offset does not change it).
    pub time: UnixTime,
}

/// Splits a raw commit into signed payload and signature, as git does.
///
/// The payload is the commit with its `gpgsig` header (and every other `gpgsig*` header, with
/// their continuation lines) removed; the signature is the header's value with the one leading
/// space of each continuation line removed.
///
/// # Errors
/// [`Rejection::ObjectTooLarge`], [`Rejection::SignatureTooLarge`],
/// [`Rejection::MalformedObject`] (no `tree`/`committer` header, two signature headers),
/// [`Rejection::Unsigned`], [`Rejection::UnsupportedSignatureFormat`].
pub fn parse_commit(raw: &[u8]) -> Result<SignedObject, Rejection> {
    parse_commit_in(raw, ObjectFormat::Sha1)
}

/// [`parse_commit`] for a repository of the given object format: the signature is read from
/// that format's header, and every other `gpgsig*` header is dropped from the payload.
///
/// # Errors
/// As [`parse_commit`].
pub fn parse_commit_in(raw: &[u8], format: ObjectFormat) -> Result<SignedObject, Rejection> {
    check_size(raw)?;
    let sig_header = format.signature_header().as_bytes();
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature: Vec<u8> = Vec::new();
    let mut headers_seen = 0usize;
    let mut sig_headers = 0usize;
    let mut in_signature = false;
    let mut other_signature = false;
    let mut committer = None;
    let mut first_header = None;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, next) = rest.split_at(end);
        rest = next;
        if line == b"\n" {
            // End of headers: the message is signed as is, and never holds a signature header.
            payload.extend_from_slice(line);
            payload.extend_from_slice(rest);
            break;
        }
        if in_signature && line.first() == Some(&b' ') {
            if signature.len() + line.len() > MAX_SIGNATURE_SIZE {
                return Err(Rejection::SignatureTooLarge {
                    limit: MAX_SIGNATURE_SIZE,
                });
            }
            signature.extend_from_slice(&line[1..]);
            continue;
        }
        in_signature = false;
        if let Some(value) = line
            .strip_prefix(sig_header)
            .and_then(|v| v.strip_prefix(b" "))
        {
            sig_headers += 1;
            if sig_headers > 1 {
                // git concatenates repeated headers into one signature; refuse the ambiguity.
                return Err(malformed(&format!(
                    "more than one {} header",
                    format.signature_header()
                )));
            }
            if value.len() > MAX_SIGNATURE_SIZE {
                return Err(Rejection::SignatureTooLarge {
                    limit: MAX_SIGNATURE_SIZE,
                });
            }
            signature.extend_from_slice(value);
            in_signature = true;
            other_signature = false;
            continue;
        }
        if line.starts_with(ANY_SIG_HEADER) {
            // `gpgsig-sha256` and the like: not ours, not signed either.
            other_signature = true;
            continue;
        }
        if other_signature && line.first() == Some(&b' ') {
            continue;
        }
        other_signature = false;
        headers_seen += 1;
        if first_header.is_none() {
            first_header = Some(line);
        }
        if let Some(value) = line.strip_prefix(b"committer ") {
            if committer.is_some() {
                return Err(malformed("more than one committer header"));
            }
            committer = Some(parse_signer_line(value, "committer")?);
        }
        payload.extend_from_slice(line);
    }
    if headers_seen == 0 || !first_header.is_some_and(|h| h.starts_with(b"tree ")) {
        return Err(malformed("a commit must start with a `tree` header"));
    }
    let signer = committer.ok_or_else(|| malformed("missing committer header"))?;
    if sig_headers == 0 {
        return Err(Rejection::Unsigned);
    }
    let kind = signature_kind(&signature)?;
    Ok(SignedObject {
        payload,
        signature,
        kind,
        signer,
    })
}

/// Splits a raw annotated tag into signed payload and the trailing signature, as git does:
/// the signature starts at the last line that opens a signature armor.
///
/// # Errors
/// As [`parse_commit`], and [`Rejection::NotAnAnnotatedTag`] when the bytes are not a tag
/// object (a commit given for a lightweight tag).
pub fn parse_tag(raw: &[u8]) -> Result<SignedObject, Rejection> {
    check_size(raw)?;
    if !raw.starts_with(b"object ") {
        return Err(Rejection::NotAnAnnotatedTag);
    }
    let header_end = find(raw, b"\n\n").map_or(raw.len(), |i| i + 1);
    let headers = &raw[..header_end];
    let mut tagger = None;
    let mut has_type = false;
    for line in headers.split(|&b| b == b'\n') {
        if let Some(value) = line.strip_prefix(b"tagger ") {
            if tagger.is_some() {
                return Err(malformed("more than one tagger header"));
            }
            tagger = Some(parse_signer_line(value, "tagger")?);
        }
        has_type |= line.starts_with(b"type ");
    }
    if !has_type {
        return Err(malformed("tag without `type` header"));
    }
    let signer = tagger.ok_or_else(|| malformed("missing tagger header"))?;
    // The last line that starts a signature armor, searched only in the message.
    let mut start = None;
    let mut offset = header_end;
    while offset < raw.len() {
        let line = &raw[offset..];
        if SIGNATURE_STARTS.iter().any(|(m, _)| line.starts_with(m)) {
            start = Some(offset);
        }
        offset += line
            .iter()
            .position(|&b| b == b'\n')
            .map_or(line.len(), |i| i + 1);
    }
    let Some(start) = start else {
        return Err(Rejection::Unsigned);
    };
    let signature = &raw[start..];
    if signature.len() > MAX_SIGNATURE_SIZE {
        return Err(Rejection::SignatureTooLarge {
            limit: MAX_SIGNATURE_SIZE,
        });
    }
    let kind = signature_kind(signature)?;
    Ok(SignedObject {
        payload: raw[..start].to_vec(),
        signature: signature.to_vec(),
        kind,
        signer,
    })
}

/// Armor openings git knows (`gpg-interface.c`), with the kind this crate verifies.
const SIGNATURE_STARTS: &[(&[u8], Option<SignatureKind>)] = &[
    (
        b"-----BEGIN PGP SIGNATURE-----",
        Some(SignatureKind::OpenPgp),
    ),
    (b"-----BEGIN PGP MESSAGE-----", None),
    (b"-----BEGIN SIGNED MESSAGE-----", None),
    (b"-----BEGIN SSH SIGNATURE-----", Some(SignatureKind::Ssh)),
];

fn signature_kind(signature: &[u8]) -> Result<SignatureKind, Rejection> {
    for (marker, kind) in SIGNATURE_STARTS {
        if signature.starts_with(marker) {
            return kind.ok_or_else(|| Rejection::UnsupportedSignatureFormat {
                format: String::from_utf8_lossy(marker).into_owned(),
            });
        }
    }
    let first_line = signature.split(|&b| b == b'\n').next().unwrap_or_default();
    let shown = &first_line[..first_line.len().min(64)];
    Err(Rejection::UnsupportedSignatureFormat {
        format: String::from_utf8_lossy(shown).into_owned(),
    })
}

/// Parses the value of a `committer`/`tagger` header: `Name <email> 1705320000 +0000`.
fn parse_signer_line(value: &[u8], header: &str) -> Result<SignerLine, Rejection> {
    let bad = |why: &str| malformed(&format!("{header} header: {why}"));
    let value = value.strip_suffix(b"\n").unwrap_or(value);
    let open = value
        .iter()
        .position(|&b| b == b'<')
        .ok_or_else(|| bad("no `<email>`"))?;
    let close = value[open..]
        .iter()
        .position(|&b| b == b'>')
        .map(|c| open + c)
        .ok_or_else(|| bad("no `<email>`"))?;
    let name = String::from_utf8_lossy(value[..open].trim_ascii()).into_owned();
    let email = String::from_utf8_lossy(&value[open + 1..close]).into_owned();
    let mut fields = value[close + 1..].trim_ascii().split(|&b| b == b' ');
    let seconds = fields
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("no timestamp"))?;
    let seconds = std::str::from_utf8(seconds)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad("timestamp is not a number"))?;
    Ok(SignerLine {
        name,
        email,
        time: UnixTime(seconds),
    })
}

fn check_size(raw: &[u8]) -> Result<(), Rejection> {
    if raw.len() > MAX_OBJECT_SIZE {
        return Err(Rejection::ObjectTooLarge {
            size: raw.len(),
            limit: MAX_OBJECT_SIZE,
        });
    }
    Ok(())
}

fn malformed(why: &str) -> Rejection {
    Rejection::MalformedObject {
        why: why.to_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &[u8] = b"tree 3efc8e9dfacad920e039aab29d1c35097db9e27b\n\
parent c1d05db22a6a9cf19ff396950d4f374e73d0f12c\n\
author Alice <alice@example.org> 1705320000 +0000\n\
committer Alice Example <alice@example.org> 1705320000 +0100\n\
gpgsig -----BEGIN SSH SIGNATURE-----\n \
AAAA\n \
-----END SSH SIGNATURE-----\n\
\n\
change\n\ngpgsig not-a-header\n";

    #[test]
    fn commit_signature_header_should_be_cut_out_of_the_payload() {
        let obj = parse_commit(SIGNED).unwrap();
        assert_eq!(
            obj.signature,
            b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
        );
        assert_eq!(
            obj.payload,
            b"tree 3efc8e9dfacad920e039aab29d1c35097db9e27b\n\
parent c1d05db22a6a9cf19ff396950d4f374e73d0f12c\n\
author Alice <alice@example.org> 1705320000 +0000\n\
committer Alice Example <alice@example.org> 1705320000 +0100\n\
\nchange\n\ngpgsig not-a-header\n"
        );
        assert_eq!(obj.kind, SignatureKind::Ssh);
        assert_eq!(obj.signer.email, "alice@example.org");
        assert_eq!(obj.signer.name, "Alice Example");
        assert_eq!(obj.signer.time, UnixTime(1_705_320_000));
    }

    #[test]
    fn other_gpgsig_headers_should_be_dropped_from_the_payload() {
        let raw = b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig-sha256 x\n y\ngpgsig -----BEGIN PGP SIGNATURE-----\n z\n\nmsg\n";
        let obj = parse_commit(raw).unwrap();
        assert_eq!(obj.payload, b"tree 1\ncommitter A <a@b> 1 +0000\n\nmsg\n");
        assert_eq!(obj.signature, b"-----BEGIN PGP SIGNATURE-----\nz\n");
        assert_eq!(obj.kind, SignatureKind::OpenPgp);
    }

    #[test]
    fn sha256_repository_should_read_gpgsig_sha256_and_drop_gpgsig() {
        let raw = b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n a\ngpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n b\n\nmsg\n";
        let obj = parse_commit_in(raw, ObjectFormat::Sha256).unwrap();
        assert_eq!(obj.payload, b"tree 1\ncommitter A <a@b> 1 +0000\n\nmsg\n");
        assert_eq!(obj.signature, b"-----BEGIN SSH SIGNATURE-----\nb\n");
        let sha1 = parse_commit_in(raw, ObjectFormat::Sha1).unwrap();
        assert_eq!(sha1.payload, obj.payload);
        assert_eq!(sha1.signature, b"-----BEGIN PGP SIGNATURE-----\na\n");
    }

    #[test]
    fn unsigned_commit_should_be_refused_as_unsigned() {
        let raw = b"tree 1\ncommitter A <a@b> 1 +0000\n\nmsg\n";
        assert_eq!(parse_commit(raw), Err(Rejection::Unsigned));
    }

    #[test]
    fn signature_in_the_message_should_not_count() {
        let raw = b"tree 1\ncommitter A <a@b> 1 +0000\n\ngpgsig -----BEGIN SSH SIGNATURE-----\n";
        assert_eq!(parse_commit(raw), Err(Rejection::Unsigned));
    }

    #[test]
    fn two_signature_headers_should_be_refused() {
        let raw = b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig a\ngpgsig b\n\nmsg\n";
        assert!(matches!(
            parse_commit(raw),
            Err(Rejection::MalformedObject { .. })
        ));
    }

    #[test]
    fn commit_without_tree_or_committer_should_be_refused() {
        assert!(matches!(
            parse_commit(b"committer A <a@b> 1 +0000\ngpgsig x\n\n"),
            Err(Rejection::MalformedObject { .. })
        ));
        assert!(matches!(
            parse_commit(b"tree 1\ngpgsig x\n\n"),
            Err(Rejection::MalformedObject { .. })
        ));
        assert!(matches!(
            parse_commit(b""),
            Err(Rejection::MalformedObject { .. })
        ));
    }

    #[test]
    fn huge_signature_header_should_be_refused_without_reading_it_all() {
        let mut raw =
            b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n".to_vec();
        for _ in 0..(1 << 20) / 64 {
            raw.extend_from_slice(b" ");
            raw.extend_from_slice(&[b'A'; 63]);
            raw.push(b'\n');
        }
        raw.extend_from_slice(b"\nmsg\n");
        assert_eq!(
            parse_commit(&raw),
            Err(Rejection::SignatureTooLarge {
                limit: MAX_SIGNATURE_SIZE
            })
        );
    }

    #[test]
    fn huge_object_should_be_refused() {
        let raw = vec![b'x'; MAX_OBJECT_SIZE + 1];
        assert!(matches!(
            parse_commit(&raw),
            Err(Rejection::ObjectTooLarge { .. })
        ));
        assert!(matches!(
            parse_tag(&raw),
            Err(Rejection::ObjectTooLarge { .. })
        ));
    }

    #[test]
    fn x509_signature_should_be_unsupported() {
        let raw =
            b"tree 1\ncommitter A <a@b> 1 +0000\ngpgsig -----BEGIN SIGNED MESSAGE-----\n\nm\n";
        assert!(matches!(
            parse_commit(raw),
            Err(Rejection::UnsupportedSignatureFormat { .. })
        ));
    }

    const TAG: &[u8] = b"object 9a9732f709be88220e42b37e2c5fa357ffb24394\n\
type commit\n\
tag v1\n\
tagger Alice <alice@example.org> 1705320000 +0000\n\
\n\
release\n\
-----BEGIN SSH SIGNATURE-----\n\
QQ==\n\
-----END SSH SIGNATURE-----\n";

    #[test]
    fn tag_signature_should_be_the_trailing_armor() {
        let obj = parse_tag(TAG).unwrap();
        assert_eq!(
            obj.payload,
            b"object 9a9732f709be88220e42b37e2c5fa357ffb24394\ntype commit\ntag v1\ntagger Alice <alice@example.org> 1705320000 +0000\n\nrelease\n"
        );
        assert!(
            obj.signature
                .starts_with(b"-----BEGIN SSH SIGNATURE-----\n")
        );
        assert_eq!(obj.signer.time, UnixTime(1_705_320_000));
    }

    #[test]
    fn commit_given_as_tag_should_be_refused_as_lightweight() {
        assert_eq!(parse_tag(SIGNED), Err(Rejection::NotAnAnnotatedTag));
    }

    #[test]
    fn unsigned_tag_should_be_refused_as_unsigned() {
        let raw = b"object 1\ntype commit\ntag v1\ntagger A <a@b> 1 +0000\n\nrelease\n";
        assert_eq!(parse_tag(raw), Err(Rejection::Unsigned));
    }

    #[test]
    fn signer_line_should_parse_email_and_time() {
        let s = parse_signer_line(b"A B <a@b> -5 +0000", "committer").unwrap();
        assert_eq!(s.email, "a@b");
        assert_eq!(s.name, "A B");
        assert_eq!(s.time, UnixTime(-5));
        assert!(parse_signer_line(b"A <a@b>", "committer").is_err());
        assert!(parse_signer_line(b"A a@b 1 +0000", "committer").is_err());
        assert!(parse_signer_line(b"A <a@b> x +0000", "committer").is_err());
    }
}
