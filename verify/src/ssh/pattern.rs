//! OpenSSH's pattern lists (`match.c`): `*` and `?` wildcards, comma-separated lists, and `!`
//! negation that vetoes the whole list. Used for `allowed_signers` principals and namespaces.

/// `*` matches any run of characters (also none), `?` exactly one; the rest literally
/// (case-sensitive, as ssh-keygen matches principals).
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let (s, p): (Vec<char>, Vec<char>) = (s.chars().collect(), pattern.chars().collect());
    // Iterative glob match with one backtrack point: linear in practice, no recursion.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The result of matching a string against a comma-separated pattern list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMatch {
    /// A positive pattern matched and no negated one did.
    Match,
    /// No pattern matched.
    NoMatch,
    /// A negated (`!pattern`) pattern matched: refused whatever else matches.
    Negated,
}

/// `match_pattern_list` of OpenSSH: a matching `!pattern` wins over every positive match.
pub fn match_pattern_list(s: &str, list: &str) -> ListMatch {
    let mut matched = false;
    for pattern in list.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) => {
                if match_pattern(s, negated) {
                    return ListMatch::Negated;
                }
            }
            None => matched |= match_pattern(s, pattern),
        }
    }
    if matched {
        ListMatch::Match
    } else {
        ListMatch::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_pattern_should_match_only_itself() {
        assert!(match_pattern("alice@example.org", "alice@example.org"));
        assert!(!match_pattern("alice@example.org", "Alice@example.org"));
        assert!(!match_pattern("alice@example.org", "alice@example.or"));
        assert!(!match_pattern("", "a"));
        assert!(match_pattern("", ""));
    }

    #[test]
    fn star_should_match_any_run_and_question_mark_one_char() {
        assert!(match_pattern("alice@example.org", "*@example.org"));
        assert!(match_pattern("@example.org", "*@example.org"));
        assert!(!match_pattern("alice@example.org.evil", "*@example.org"));
        assert!(match_pattern("a1", "a?"));
        assert!(!match_pattern("a", "a?"));
        assert!(match_pattern("abcabd", "*abd"));
        assert!(match_pattern("anything", "*"));
        assert!(match_pattern("", "**"));
        assert!(match_pattern("aXbYc", "a*b*c"));
        assert!(!match_pattern("aXbYd", "a*b*c"));
    }

    #[test]
    fn negated_pattern_should_veto_the_list() {
        let list = "*@example.org,!mallory@example.org";
        assert_eq!(
            match_pattern_list("alice@example.org", list),
            ListMatch::Match
        );
        assert_eq!(
            match_pattern_list("mallory@example.org", list),
            ListMatch::Negated
        );
        assert_eq!(match_pattern_list("bob@evil.org", list), ListMatch::NoMatch);
    }

    #[test]
    fn only_negated_patterns_should_never_match() {
        assert_eq!(match_pattern_list("git", "!file"), ListMatch::NoMatch);
    }

    #[test]
    fn long_star_patterns_should_stay_fast() {
        let s = "a".repeat(5000);
        let p = format!("{}b", "*a".repeat(200));
        assert!(!match_pattern(&s, &p));
    }
}
