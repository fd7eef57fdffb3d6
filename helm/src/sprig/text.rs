//! String helpers of Sprig's dependencies: goutils (abbreviate, wrap), xstrings (`camelcase`),
//! Go's `path`, SHA-1, base32.

fn go_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// goutils.AbbreviateFull.
pub(super) fn abbreviate_full(s: &str, mut offset: i64, max: i64) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    if max < 4 {
        return Err("stringutils illegal argument: Minimum abbreviation width is 4".into());
    }
    let l = s.len() as i64;
    if l <= max {
        return Ok(s.to_string());
    }
    if offset > l {
        offset = l;
    }
    if l - offset < max - 3 {
        offset = l - (max - 3);
    }
    let b = |a: i64, e: i64| {
        String::from_utf8_lossy(&s.as_bytes()[a as usize..e as usize]).into_owned()
    };
    if offset <= 4 {
        return Ok(format!("{}...", b(0, max - 3)));
    }
    if max < 7 {
        return Err(
            "stringutils illegal argument: Minimum abbreviation width with offset is 7".into(),
        );
    }
    if offset + max - 3 < l {
        let rest = abbreviate_full(&b(offset, l), 0, max - 3)?;
        return Ok(format!("...{rest}"));
    }
    Ok(format!("...{}", b(l - (max - 3), l)))
}

/// goutils.WrapCustom.
pub(super) fn wrap_custom(s: &str, mut width: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    if width < 1 {
        width = 1;
    }
    let b = s.as_bytes();
    let sub = |a: usize, e: usize| String::from_utf8_lossy(&b[a..e]).into_owned();
    let len = b.len() as i64;
    let mut offset: i64 = 0;
    let mut out = String::new();
    while len - offset > width {
        if b[offset as usize] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len) as usize;
        let space = sub(offset as usize, end)
            .rfind(' ')
            .map(|i| i as i64 + offset)
            .unwrap_or(offset - 1);
        if space >= offset {
            out.push_str(&sub(offset as usize, space as usize));
            out.push_str(nl);
            offset = space + 1;
        } else if long_words {
            let end = (width + offset) as usize;
            out.push_str(&sub(offset as usize, end));
            out.push_str(nl);
            offset += width;
        } else {
            let end = (width + offset) as usize;
            match sub(end, b.len()).find(' ') {
                None => {
                    out.push_str(&sub(offset as usize, b.len()));
                    offset = len;
                }
                Some(i) => {
                    let space = i + end;
                    out.push_str(&sub(offset as usize, space));
                    out.push_str(nl);
                    offset = space as i64 + 1;
                }
            }
        }
    }
    out.push_str(&sub(offset as usize, b.len()));
    out
}

/// xstrings.ToPascalCase (Sprig's `camelcase`).
pub(super) fn pascal_case(s: &str) -> String {
    let is_conn = |c: char| c == '-' || c == '_' || go_is_space(c);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut r0 = '\0';
    let mut first_upper = false;
    let mut got = false;
    for c in chars.by_ref() {
        if !is_conn(c) {
            first_upper = c.is_uppercase();
            r0 = c.to_uppercase().next().unwrap_or(c);
            got = true;
            break;
        }
        out.push(c);
    }
    if !got {
        return out;
    }
    if chars.peek().is_none() {
        out.push(r0);
        return out;
    }
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_conn(r0) && is_conn(r1) {
            out.push(r1);
            continue;
        }
        if is_conn(r1) {
            first_upper = r0.is_uppercase();
            r0 = r0.to_uppercase().next().unwrap_or(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = r0.to_lowercase().next().unwrap_or(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

pub(super) fn swapcase(s: &str) -> String {
    let mut ws = true;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
            ws = false;
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
            ws = false;
        } else {
            out.push(c);
            ws = go_is_space(c);
        }
    }
    let _ = ws;
    out
}

/// path.Clean.
pub(super) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

pub(super) fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

pub(super) fn path_dir(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    path_clean(&p[..i])
}

pub(super) fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

pub(super) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(super) fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((n >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn b32dec(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let err = |i: usize| format!("illegal base32 data at input byte {i}");
    if !b.len().is_multiple_of(8) {
        // Go reports the first bad position; for short input, the end of the last full block.
        for (i, c) in b.iter().enumerate() {
            if !B32.contains(c) && *c != b'=' {
                return Err(err(i));
            }
        }
        return Err(err(b.len() / 8 * 8));
    }
    for (ci, chunk) in b.chunks(8).enumerate() {
        let mut n: u64 = 0;
        let mut chars = 0;
        for (j, c) in chunk.iter().enumerate() {
            if *c == b'=' {
                break;
            }
            let v = B32
                .iter()
                .position(|x| x == c)
                .ok_or_else(|| err(ci * 8 + j))?;
            n |= (v as u64) << (35 - 5 * j);
            chars += 1;
        }
        let bytes = match chars {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => return Err(err(ci * 8 + chars)),
        };
        let full = n.to_be_bytes();
        out.extend_from_slice(&full[3..3 + bytes]);
    }
    Ok(out)
}
