//! Shamir's secret sharing over GF(2^8), as sops' copy of HashiCorp Vault's `shamir` package
//! combines key-group parts: each part is the share bytes followed by its x coordinate.

use zeroize::Zeroizing;

fn mult(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        let a_or_zero = 0u8.wrapping_sub(bit) & a;
        let reduce = 0u8.wrapping_sub(acc >> 7) & 0x1B;
        let times_x = reduce ^ acc.wrapping_add(acc);
        acc = a_or_zero ^ times_x;
    }
    acc
}

fn inverse(a: u8) -> u8 {
    let mut b = mult(a, a);
    let mut c = mult(a, b);
    b = mult(c, c);
    b = mult(b, b);
    c = mult(b, c);
    b = mult(b, b);
    b = mult(b, b);
    b = mult(b, c);
    b = mult(b, b);
    b = mult(a, b);
    mult(b, b)
}

fn interpolate(xs: &[u8], ys: &[u8]) -> Option<u8> {
    let mut result = 0u8;
    for i in 0..xs.len() {
        let mut basis = 1u8;
        for j in 0..xs.len() {
            if i == j {
                continue;
            }
            let denom = xs[i] ^ xs[j];
            if denom == 0 {
                return None;
            }
            basis = mult(basis, mult(xs[j], inverse(denom)));
        }
        result ^= mult(ys[i], basis);
    }
    Some(result)
}

/// Combines the parts into the secret.
///
/// # Errors
/// Fewer than two parts, parts of different lengths or shorter than two bytes, or two parts
/// with the same x coordinate.
pub fn combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 {
        return Err("parts must be at least two bytes".into());
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err("all parts must be the same length".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    let mut ys = Zeroizing::new(vec![0u8; parts.len()]);
    for idx in 0..len - 1 {
        for (i, p) in parts.iter().enumerate() {
            ys[i] = p[idx];
        }
        secret[idx] = interpolate(&xs, &ys).ok_or("duplicate part detected")?;
    }
    Ok(secret)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Splits as sops does, with fixed coefficients (tests only).
    pub(crate) fn split(secret: &[u8], parts: u8, coefficients: &[u8]) -> Vec<Vec<u8>> {
        (1..=parts)
            .map(|x| {
                let mut share: Vec<u8> = secret
                    .iter()
                    .map(|s| {
                        // s + c1 x + c2 x^2 …
                        let mut out = 0u8;
                        for c in coefficients.iter().rev() {
                            out = mult(out, x) ^ c;
                        }
                        mult(out, x) ^ s
                    })
                    .collect();
                share.push(x);
                share
            })
            .collect()
    }

    #[test]
    fn field_arithmetic_should_be_gf256() {
        assert_eq!(mult(3, 7), 9);
        assert_eq!(mult(0x57, 0x83), 0xC1, "the AES field");
        for a in 1..=255u8 {
            assert_eq!(mult(a, inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn any_threshold_of_parts_should_give_the_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let parts: Vec<Zeroizing<Vec<u8>>> = split(secret, 3, &[0x42])
            .into_iter()
            .map(Zeroizing::new)
            .collect();
        for pick in [[0, 1], [1, 2], [0, 2]] {
            let chosen = [parts[pick[0]].clone(), parts[pick[1]].clone()];
            assert_eq!(&combine(&chosen).unwrap()[..], secret);
        }
        assert!(combine(&parts[..1]).is_err());
        assert!(combine(&[parts[0].clone(), parts[0].clone()]).is_err());
    }
}
