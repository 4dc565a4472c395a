//! The name heuristics attackers' tools run on principal names and paths.
//!
//! An attacker holding a key calls an API that CloudTrail does not log and reads the principal
//! ARN from the error message, or finds the name next to the key. Tools such as CloudPEASS and
//! Pacu then judge the name offline: canary words, UUIDs and random-looking strings are what
//! canary services put in their user names, so any of them gives the canary away. tripkey runs
//! the same checks on its own names ([`check_name`]) so that it never issues one that fails.

use std::fmt;

/// The Shannon entropy, in bits per character, above which a name counts as random.
///
/// This is the threshold CloudPEASS uses for principal names, as recorded in tripkey's
/// DESIGN.md: canary services name their users after random tokens, and ordinary names made of
/// words stay below it. See [`shannon_entropy`] for exactly what is measured.
pub const ENTROPY_THRESHOLD: f64 = 3.85;

/// A word that gives a canary away when it appears in a name or path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspiciousTerm {
    /// The word, in lower case; matching ignores case.
    pub term: &'static str,
    /// Whether only a whole word matches (see [`check_name`] for how names split into words)
    /// rather than any substring. Short everyday words need it: "trap" must not flag
    /// "bootstrap", nor "lure" flag "failure".
    pub whole_word: bool,
    /// What the word tells an attacker, completing "the name contains …, which".
    pub tells: &'static str,
}

/// The words [`check_name`] looks for.
///
/// Substring matches, as the attackers' tools do them: "canary" also covers "canarytokens" and
/// "ggcanary", "honey" covers "honeytoken", "honeypot" and "honeyuser". Substring matching flags
/// innocent names such as "honeycomb-exporter" too; tripkey flags them anyway, because the
/// question is what an attacker's tool concludes, not what the name means. Where one match
/// lies inside a longer one ("canary" inside "canarytoken"), only the longer is reported.
pub const SUSPICIOUS_TERMS: &[SuspiciousTerm] = &[
    SuspiciousTerm {
        term: "canary",
        whole_word: false,
        tells: "is the generic name for a tripwire credential",
    },
    SuspiciousTerm {
        term: "canarytoken",
        whole_word: false,
        tells: "names Thinkst's Canarytokens service",
    },
    SuspiciousTerm {
        term: "thinkst",
        whole_word: false,
        tells: "names the vendor of Canary and Canarytokens",
    },
    SuspiciousTerm {
        term: "honey",
        whole_word: false,
        tells: "is the stem of honeytoken and honeypot",
    },
    SuspiciousTerm {
        term: "decoy",
        whole_word: false,
        tells: "says outright that the credential is bait",
    },
    SuspiciousTerm {
        term: "spacecrab",
        whole_word: false,
        tells: "names the SpaceCrab honey-token tool",
    },
    SuspiciousTerm {
        term: "spacesiren",
        whole_word: false,
        tells: "names the SpaceSiren honey-token manager",
    },
    SuspiciousTerm {
        term: "tripwire",
        whole_word: false,
        tells: "is a common name for a detection credential",
    },
    SuspiciousTerm {
        term: "tripkey",
        whole_word: false,
        tells: "names the canary tool itself",
    },
    SuspiciousTerm {
        term: "trap",
        whole_word: true,
        tells: "says the credential is a trap",
    },
    SuspiciousTerm {
        term: "bait",
        whole_word: true,
        tells: "says the credential is bait",
    },
    SuspiciousTerm {
        term: "lure",
        whole_word: true,
        tells: "says the credential is a lure",
    },
    SuspiciousTerm {
        term: "fake",
        whole_word: true,
        tells: "says the credential is not real",
    },
];

/// Something about a name or path that makes an attacker's tool call it a canary.
///
/// [`fmt::Display`] gives the conclusion in plain words.
#[derive(Debug, Clone, PartialEq)]
pub enum NameFinding {
    /// The text contains one of [`SUSPICIOUS_TERMS`].
    Term {
        /// The term that matched.
        term: &'static SuspiciousTerm,
        /// The text that matched it, in its original case.
        matched: String,
    },
    /// The text contains a UUID: `8-4-4-4-12` hex digits with hyphens, or a run of 32 or more
    /// hex digits.
    Uuid {
        /// The UUID-shaped part.
        matched: String,
    },
    /// The text's [`shannon_entropy`] is above [`ENTROPY_THRESHOLD`].
    HighEntropy {
        /// The measured entropy, in bits per character.
        bits_per_char: f64,
    },
}

impl fmt::Display for NameFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameFinding::Term { term, matched } => write!(
                f,
                "contains {matched:?}, which {}: tools that grep principal names for canary \
                 words (CloudPEASS, Pacu) would call this a canary",
                term.tells
            ),
            NameFinding::Uuid { matched } => write!(
                f,
                "contains the UUID-shaped {matched:?}: canary services name users after token \
                 IDs, and people do not, so an attacker would take this for a canary"
            ),
            NameFinding::HighEntropy { bits_per_char } => write!(
                f,
                "has {bits_per_char:.2} bits of entropy per character, above the \
                 {ENTROPY_THRESHOLD} that CloudPEASS treats as machine-generated: it looks like \
                 a canary service's random name"
            ),
        }
    }
}

/// Runs the attackers' name heuristics on a user name, role or session name, or IAM path.
///
/// - **Terms**: [`SUSPICIOUS_TERMS`], ignoring case. For whole-word terms the text splits into
///   words at every character that is not a letter or digit, between a lower-case letter and
///   an upper-case one (`TrapUser` is `Trap`, `User`), and between letters and digits.
/// - **UUIDs**: `8-4-4-4-12` hex digits in either case, or 32 hex digits in a row.
/// - **Entropy**: [`shannon_entropy`] of the whole text above [`ENTROPY_THRESHOLD`].
///
/// An empty result means none of the heuristics would flag the text.
pub fn check_name(name_or_path: &str) -> Vec<NameFinding> {
    let mut findings = term_findings(name_or_path);
    findings.extend(uuid_finding(name_or_path));
    let bits_per_char = shannon_entropy(name_or_path);
    if bits_per_char > ENTROPY_THRESHOLD {
        findings.push(NameFinding::HighEntropy { bits_per_char });
    }
    findings
}

/// The Shannon entropy of `text`, in bits per character.
///
/// Measured over the characters of the text exactly as given (case-sensitive, separators and
/// digits included): with `p(c)` the share of the characters that are `c`, the entropy is
/// `-Σ p(c) · log2 p(c)`. Empty text has entropy 0. A text of n characters can reach at most
/// `log2 n`, so nothing shorter than 15 characters can exceed [`ENTROPY_THRESHOLD`].
pub fn shannon_entropy(text: &str) -> f64 {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    chars.sort_unstable();
    let total = chars.len() as f64;
    chars
        .chunk_by(|a, b| a == b)
        .map(|run| {
            let p = run.len() as f64 / total;
            -p * p.log2()
        })
        .sum::<f64>()
        // One repeated character sums to -0.0, which would print as "-0.00 bits".
        + 0.0
}

fn term_findings(text: &str) -> Vec<NameFinding> {
    // Lower-casing ASCII keeps byte offsets, so matches map back to the original text.
    let lower = text.to_ascii_lowercase();
    let words = words(text);
    let mut matches: Vec<(usize, usize, &'static SuspiciousTerm)> = Vec::new();
    for term in SUSPICIOUS_TERMS {
        if term.whole_word {
            matches.extend(
                words
                    .iter()
                    .filter(|&&(start, end)| lower[start..end] == *term.term)
                    .map(|&(start, end)| (start, end, term)),
            );
        } else {
            matches.extend(
                lower
                    .match_indices(term.term)
                    .map(|(start, found)| (start, start + found.len(), term)),
            );
        }
    }
    let covered = |&(start, end, _): &(usize, usize, _)| {
        matches
            .iter()
            .any(|&(s, e, _)| s <= start && end <= e && e - s > end - start)
    };
    let mut kept: Vec<_> = matches.iter().filter(|m| !covered(m)).copied().collect();
    kept.sort_by_key(|&(start, end, _)| (start, end));
    kept.into_iter()
        .map(|(start, end, term)| NameFinding::Term {
            term,
            matched: text[start..end].to_owned(),
        })
        .collect()
}

/// Byte ranges of the words of `text`, split as [`check_name`] describes.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut previous: Option<char> = None;
    for (index, c) in text.char_indices() {
        if !c.is_alphanumeric() {
            if let Some(s) = start.take() {
                words.push((s, index));
            }
            previous = None;
            continue;
        }
        let boundary = previous.is_some_and(|p| {
            (p.is_lowercase() && c.is_uppercase()) || (p.is_numeric() != c.is_numeric())
        });
        if boundary {
            if let Some(s) = start {
                words.push((s, index));
            }
            start = Some(index);
        }
        start.get_or_insert(index);
        previous = Some(c);
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    words
}

fn uuid_finding(text: &str) -> Option<NameFinding> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    const DASHED_LEN: usize = 36;
    const HEX_RUN: usize = 32;
    let bytes = text.as_bytes();
    let dashed_at = |start: usize| {
        let mut at = start;
        for (i, len) in GROUPS.into_iter().enumerate() {
            if i > 0 {
                if bytes.get(at) != Some(&b'-') {
                    return false;
                }
                at += 1;
            }
            let Some(group) = bytes.get(at..at + len) else {
                return false;
            };
            if !group.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            at += len;
        }
        true
    };
    if let Some(start) = (0..bytes.len()).find(|&start| dashed_at(start)) {
        return Some(NameFinding::Uuid {
            matched: text[start..start + DASHED_LEN].to_owned(),
        });
    }
    // Hex digits are ASCII, so runs of them start and end on character boundaries.
    let mut run_start = 0;
    for (index, byte) in bytes.iter().chain([&b' ']).enumerate() {
        if byte.is_ascii_hexdigit() {
            continue;
        }
        if index - run_start >= HEX_RUN {
            return Some(NameFinding::Uuid {
                matched: text[run_start..index].to_owned(),
            });
        }
        run_start = index + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<&'static str> {
        check_name(text)
            .into_iter()
            .filter_map(|finding| match finding {
                NameFinding::Term { term, .. } => Some(term.term),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn canary_words_are_flagged_in_any_case() {
        assert_eq!(terms("decoy"), ["decoy"]);
        assert_eq!(terms("svc-Canary-reader"), ["canary"]);
        assert_eq!(terms("HONEYUSER"), ["honey"]);
        assert_eq!(terms("/spacecrab/"), ["spacecrab"]);
        assert_eq!(terms("spacesiren-user"), ["spacesiren"]);
        assert_eq!(terms("tripwire01"), ["tripwire"]);
        assert_eq!(terms("tripkey-7"), ["tripkey"]);
        assert_eq!(terms("thinkst"), ["thinkst"]);
    }

    #[test]
    fn longer_terms_hide_the_shorter_ones_inside_them() {
        assert_eq!(terms("canarytokens-aws"), ["canarytoken"]);
        assert_eq!(terms("honeytoken"), ["honey"]);
        assert_eq!(terms("canary-decoy"), ["canary", "decoy"]);
    }

    #[test]
    fn the_match_is_quoted_in_its_own_case() {
        let findings = check_name("svc-CanaryReader");
        assert_eq!(
            findings,
            [NameFinding::Term {
                term: &SUSPICIOUS_TERMS[0],
                matched: "Canary".into(),
            }]
        );
        let message = findings[0].to_string();
        assert!(message.starts_with("contains \"Canary\", which is the generic name"));
        assert!(message.contains("would call this a canary"), "{message}");
    }

    #[test]
    fn short_words_match_only_whole_words() {
        assert_eq!(terms("trap"), ["trap"]);
        assert_eq!(terms("svc-trap-01"), ["trap"]);
        assert_eq!(terms("TrapUser"), ["trap"]);
        assert_eq!(terms("trap2"), ["trap"]);
        assert_eq!(terms("fake.user"), ["fake"]);
        assert!(terms("bootstrap-runner").is_empty());
        assert!(terms("failure-notifier").is_empty());
        assert!(terms("baiting").is_empty());
        assert!(terms("strap").is_empty());
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "billing",
            "svc-backup-agent",
            "ci-artifact-reader",
            "svc-billing-sync-07",
            "j.morrison",
            "priya.raman",
            "/",
            "/service/",
            "/ops/",
            "deadbeef-cafe",
        ] {
            assert_eq!(check_name(name), [], "{name}");
        }
    }

    #[test]
    fn substring_matches_flag_innocent_words_as_the_tools_do() {
        assert_eq!(terms("honeycomb-exporter"), ["honey"]);
    }

    #[test]
    fn uuids_are_flagged() {
        let uuid = "3f2b8c1e-9d4a-4e7b-a6c5-0f1e2d3c4b5a";
        for text in [
            uuid.to_owned(),
            format!("user-{uuid}"),
            uuid.to_uppercase(),
            "3f2b8c1e9d4a4e7ba6c50f1e2d3c4b5a".to_owned(),
            "x3f2b8c1e9d4a4e7ba6c50f1e2d3c4b5a00".to_owned(),
        ] {
            assert!(
                check_name(&text)
                    .iter()
                    .any(|f| matches!(f, NameFinding::Uuid { .. })),
                "{text}"
            );
        }
        assert_eq!(
            uuid_finding(&format!("u-{uuid}-x")),
            Some(NameFinding::Uuid {
                matched: uuid.into()
            })
        );
    }

    #[test]
    fn near_uuids_are_not() {
        for text in [
            "3f2b8c1e-9d4a-4e7b-a6c5-0f1e2d3c4b5",
            "3f2b8c1e-9d4a-4e7b-a6c5_0f1e2d3c4b5a",
            "3f2b8c1e-9d4a-4e7g-a6c5-0f1e2d3c4b5a",
            "3f2b8c1e9d4a4e7ba6c50f1e2d3c4b5",
        ] {
            assert_eq!(uuid_finding(text), None, "{text}");
        }
    }

    #[test]
    fn entropy_is_measured_over_the_characters() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert_eq!(shannon_entropy("ab"), 1.0);
        assert_eq!(shannon_entropy("abcd"), 2.0);
        assert_eq!(shannon_entropy("aabb"), 1.0);
        // Case-sensitive, and characters rather than bytes.
        assert_eq!(shannon_entropy("aA"), 1.0);
        assert_eq!(shannon_entropy("éé"), 0.0);
    }

    #[test]
    fn random_looking_names_are_flagged() {
        let findings = check_name("xK9$mQ2#pL7@vR4!");
        assert_eq!(findings, [NameFinding::HighEntropy { bits_per_char: 4.0 }]);
        assert!(findings[0].to_string().contains("4.00 bits"));
        let findings = check_name("AIDAxK9mQ2pL7vR4wZ8n");
        assert!(matches!(findings[..], [NameFinding::HighEntropy { .. }]));
    }

    #[test]
    fn short_names_cannot_reach_the_threshold() {
        // Twelve distinct characters are log2(12) = 3.58 bits: random, but too short to show.
        let text = "xK9$mQ2#pL7@";
        assert!((shannon_entropy(text) - 12f64.log2()).abs() < 1e-12);
        assert_eq!(check_name(text), []);
    }
}
