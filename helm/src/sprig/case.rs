//! huandu/xstrings v1.5.0 `ToSnakeCase` / `ToKebabCase` (Sprig's `snakecase`, `kebabcase`).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

fn is_alphabet(c: char) -> bool {
    if !c.is_alphabetic() {
        return false;
    }
    let u = c as u32;
    !(u >= 0x3400
        && ((0x4E00..=0x9FCC).contains(&u)
            || (0x3400..=0x4D85).contains(&u)
            || (0x20000..=0x2B81D).contains(&u)))
}

fn is_number(c: char) -> bool {
    c.is_numeric()
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
        || (!c.is_ascii()
            && !c.is_alphanumeric()
            && !c.is_whitespace()
            && !c.is_control()
            && is_unicode_punct(c))
}

fn is_unicode_punct(c: char) -> bool {
    matches!(c as u32, 0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x2010..=0x2027 | 0x2030..=0x205E | 0x3001..=0x3003 | 0x3008..=0x3011)
}

fn next_word(s: &str) -> (Word, &str, &str) {
    let mut it = s.char_indices().peekable();
    let Some((_, r)) = it.next() else {
        return (Word::Invalid, "", "");
    };
    let mut offset = r.len_utf8();
    let rest = |o: usize| &s[o..];
    let wt;
    if is_connector(r) {
        wt = Word::Connector;
        for c in s[offset..].chars() {
            if !is_connector(c) {
                break;
            }
            offset += c.len_utf8();
        }
    } else if is_punct(r) {
        wt = Word::Punct;
        for c in s[offset..].chars() {
            if !is_punct(c) {
                break;
            }
            offset += c.len_utf8();
        }
    } else if r.is_uppercase() {
        wt = Word::Upper;
        let mut chars = s[offset..].chars().peekable();
        if let Some(&c) = chars.peek() {
            if c.is_uppercase() {
                let mut prev = c.len_utf8();
                offset += prev;
                chars.next();
                let mut last = c;
                let mut more = false;
                for c in chars {
                    last = c;
                    if !c.is_uppercase() {
                        more = true;
                        break;
                    }
                    prev = c.len_utf8();
                    offset += prev;
                }
                if more && is_alphabet(last) {
                    offset -= prev;
                }
            } else if is_alphabet(c) {
                offset += c.len_utf8();
                chars.next();
                for c in chars {
                    if !is_alphabet(c) || c.is_uppercase() {
                        break;
                    }
                    offset += c.len_utf8();
                }
            }
        }
    } else if is_alphabet(r) {
        wt = Word::Alphabet;
        for c in s[offset..].chars() {
            if !is_alphabet(c) || c.is_uppercase() {
                break;
            }
            offset += c.len_utf8();
        }
    } else if is_number(r) {
        wt = Word::Number;
        for c in s[offset..].chars() {
            if !is_number(c) {
                break;
            }
            offset += c.len_utf8();
        }
    } else {
        wt = Word::Other;
        for c in s[offset..].chars() {
            if is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c) {
                break;
            }
            offset += c.len_utf8();
        }
    }
    (wt, &s[..offset], rest(offset))
}

fn to_lower(buf: &mut String, wt: Word, s: &str, conn: char) {
    if wt != Word::Upper && wt != Word::Connector {
        buf.push_str(s);
        return;
    }
    for c in s.chars() {
        if is_connector(c) {
            buf.push(conn);
        } else if c.is_uppercase() {
            buf.extend(c.to_lowercase());
        } else {
            buf.push(c);
        }
    }
}

/// `camelCaseToLowerCase(s, connector)`.
pub fn to_lower_case(s: &str, conn: char) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut buf = String::new();
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            to_lower(&mut buf, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut buf, wt, word, conn);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    buf.push(conn);
                }
            }
            Word::Connector => to_lower(&mut buf, prev, last, conn),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        buf.push(conn);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, remaining) = next_word(remaining);
                if wt != Word::Alphabet {
                    to_lower(&mut buf, Word::Number, last, conn);
                    if wt != Word::Connector && wt != Word::Punct {
                        buf.push(conn);
                    }
                    continue;
                }
                buf.push(conn);
                to_lower(&mut buf, Word::Number, last, conn);
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut buf, wt, word, conn);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    buf.push(conn);
                }
            }
        }
    }
    to_lower(&mut buf, wt, word, conn);
    buf
}
