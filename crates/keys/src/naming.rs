//! Names for canaries that read like the account's own service accounts and people.
//!
//! A canary's name is what an attacker sees first: in the principal ARN of an error message,
//! next to the key in a config file. So names come from templates over word lists
//! (`svc-billing-sync-07`, `priya.raman4`) rather than from the canary's id, whose random
//! characters would trip the entropy heuristic.
//!
//! **How a name identifies its canary.** A canary id has more bits than a plausible name can
//! carry in 32 characters, so the name does not encode the id reversibly. Instead the name is
//! a deterministic function of (template, id, attempt): the id and attempt seed every word and
//! number choice. The registry stores the name with the canary and looks canaries up by it;
//! different ids almost always give different names (the default templates have millions of
//! outcomes), and when a name is already taken the caller asks for the next attempt, which
//! draws a fresh set of choices.
//!
//! ```
//! use keys::{check_name, generate_name, NameStyle, NameTemplate};
//!
//! let name = generate_name(NameStyle::Service, "k7d2mq4xbz", 0);
//! assert!(check_name(&name.name).is_empty());
//! assert_eq!(name, generate_name(NameStyle::Service, "k7d2mq4xbz", 0));
//!
//! let template: NameTemplate = "/ops/{team}-{verb}-{n3}".parse()?;
//! let name = template.render("k7d2mq4xbz", 0)?;
//! assert_eq!(name.path, "/ops/");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::heuristics::{check_name, NameFinding};
use crate::words::{FIRST_NAMES, LAST_NAMES, PERSON_PATHS, SERVICES, SERVICE_PATHS, TEAMS, VERBS};

/// The shortest name every kind of canary accepts: federation and role session names need 2.
pub const MIN_NAME_LEN: usize = 2;
/// The longest name every kind of canary accepts: GetFederationToken allows 32 characters,
/// IAM user names and role session names 64.
pub const MAX_NAME_LEN: usize = 32;
/// The longest IAM path.
const MAX_PATH_LEN: usize = 512;
/// How many candidates one render draws before giving up on a template whose names keep
/// failing the heuristics.
const MAX_TRIES: u32 = 64;

/// The kind of principal a default name imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameStyle {
    /// A service account, e.g. `svc-billing-sync-07` under `/service/`.
    Service,
    /// A person, e.g. `priya.raman4` or `j.morrison12`.
    Person,
}

impl NameStyle {
    /// Both styles.
    pub const ALL: [NameStyle; 2] = [NameStyle::Service, NameStyle::Person];

    /// The built-in templates of this style, each with the style's list of IAM paths.
    pub fn templates(self) -> Vec<NameTemplate> {
        let (sources, paths): (&[&str], _) = match self {
            NameStyle::Service => (
                &[
                    "svc-{service}-{verb}-{n2}",
                    "{service}-{verb}-{n2}",
                    "ci-{service}-{verb}-{n2}",
                    "{team}-{service}-{verb}-{n2}",
                    "{team}-{verb}-{n3}",
                ],
                SERVICE_PATHS,
            ),
            NameStyle::Person => (
                &[
                    "{first}.{last}{n}",
                    "{initial}.{last}{n}",
                    "{initial}{last}{n}",
                ],
                PERSON_PATHS,
            ),
        };
        sources
            .iter()
            .map(|source| NameTemplate {
                paths: paths.iter().map(|&path| path.to_owned()).collect(),
                ..NameTemplate::parse(source).expect("built-in templates parse")
            })
            .collect()
    }
}

/// A canary's name and the IAM path it is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanaryName {
    /// The user, federated user or role session name: 2 to 32 characters of
    /// `[A-Za-z0-9_+=,.@-]`, which every kind of canary accepts.
    pub name: String,
    /// The IAM path, starting and ending with `/`; used for IAM users.
    pub path: String,
}

/// Picks a name of `style` for the canary `id` from the built-in templates.
///
/// Deterministic: the same id and attempt always give the same name, so the name can be
/// recomputed. `id` may be any text; only its bytes seed the choices. If the name is taken,
/// call again with `attempt + 1`. Every name returned passes [`check_name`] and fits
/// [`MIN_NAME_LEN`]..=[`MAX_NAME_LEN`].
pub fn generate_name(style: NameStyle, id: &str, attempt: u32) -> CanaryName {
    render(&style.templates(), id, attempt)
        .expect("built-in templates have few enough flagged names that some candidate passes")
}

/// What an AWS profile holding a canary is called: things people name their profiles after.
const PROFILE_ROLES: &[&str] = &[
    "admin",
    "deploy",
    "prod",
    "legacy",
    "ops",
    "readonly",
    "backup",
    "release",
    "migration",
    "reporting",
    "automation",
    "support",
];

/// A plausible AWS profile name for the canary `id`, such as `billing-admin` or
/// `legacy-deploy`: what a person's own profiles are called, so a profile of canary keys
/// sits among them unremarked. Deterministic per id and attempt; call again with
/// `attempt + 1` when the name is taken in the file at hand. Every name passes [`check_name`].
pub fn profile_name(id: &str, attempt: u32) -> String {
    let mut draws = Draws::new(id, attempt ^ 0x5052_4f46);
    loop {
        let first = if draws.below(3) == 0 {
            TEAMS[draws.below(TEAMS.len())]
        } else {
            SERVICES[draws.below(SERVICES.len())]
        };
        let role = PROFILE_ROLES[draws.below(PROFILE_ROLES.len())];
        let name = format!("{first}-{role}");
        if first != role && check_name(&name).is_empty() {
            return name;
        }
    }
}

/// Checks a name chosen by hand against what every kind of canary accepts: IAM user names,
/// federated user names (GetFederationToken, the strictest) and role session names.
///
/// Returns why the name would be refused, naming the limit. The stealth heuristics are a
/// separate question: see [`check_name`].
pub fn validate_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&length) {
        return Err(format!(
            "{name:?} is {length} characters long; a canary name must be {MIN_NAME_LEN} to \
             {MAX_NAME_LEN}, the range GetFederationToken accepts (IAM and STS role sessions \
             allow 64)"
        ));
    }
    if let Some(bad) = name.chars().find(|&c| !name_char(c)) {
        return Err(format!(
            "{name:?} contains {bad:?}; IAM and STS names allow only letters, digits and _+=,.@-"
        ));
    }
    Ok(())
}

/// A pattern for canary names, such as `svc-{service}-{verb}-{n2}` or `/ops/{first}.{last}{n}`.
///
/// An optional IAM path comes first, up to and including the last `/`; placeholders are not
/// allowed in it. The name that follows mixes literal text (letters, digits and `_+=,.@-`,
/// the characters IAM names allow) with placeholders:
///
/// | placeholder | becomes |
/// |---|---|
/// | `{team}` | a team, e.g. `payments` |
/// | `{service}` | a system, e.g. `billing` |
/// | `{verb}` | what the account does, e.g. `sync`, `reader` |
/// | `{first}`, `{last}` | a given or family name, e.g. `priya`, `morrison` |
/// | `{initial}` | the initial of a given name |
/// | `{n}` | a number from 1 to 99 |
/// | `{n2}`, `{n3}` | two or three digits, e.g. `07`, `114` |
///
/// Parsing rejects templates that could only produce names the heuristics flag or IAM refuses,
/// and says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    source: String,
    paths: Vec<String>,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Slot(Slot),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Team,
    Service,
    Verb,
    First,
    Last,
    Initial,
    Number,
    TwoDigits,
    ThreeDigits,
}

impl Slot {
    const ALL: [Slot; 9] = [
        Slot::Team,
        Slot::Service,
        Slot::Verb,
        Slot::First,
        Slot::Last,
        Slot::Initial,
        Slot::Number,
        Slot::TwoDigits,
        Slot::ThreeDigits,
    ];

    fn placeholder(self) -> &'static str {
        match self {
            Slot::Team => "team",
            Slot::Service => "service",
            Slot::Verb => "verb",
            Slot::First => "first",
            Slot::Last => "last",
            Slot::Initial => "initial",
            Slot::Number => "n",
            Slot::TwoDigits => "n2",
            Slot::ThreeDigits => "n3",
        }
    }

    fn words(self) -> Option<&'static [&'static str]> {
        match self {
            Slot::Team => Some(TEAMS),
            Slot::Service => Some(SERVICES),
            Slot::Verb => Some(VERBS),
            Slot::First => Some(FIRST_NAMES),
            Slot::Last => Some(LAST_NAMES),
            Slot::Initial | Slot::Number | Slot::TwoDigits | Slot::ThreeDigits => None,
        }
    }

    /// The shortest and longest text the slot can become.
    fn lengths(self) -> (usize, usize) {
        match self.words() {
            Some(words) => words.iter().fold((usize::MAX, 0), |(min, max), word| {
                (min.min(word.len()), max.max(word.len()))
            }),
            None => match self {
                Slot::Number => (1, 2),
                Slot::TwoDigits => (2, 2),
                Slot::ThreeDigits => (3, 3),
                _ => (1, 1),
            },
        }
    }

    fn render(self, draws: &mut Draws, out: &mut String) {
        if let Some(words) = self.words() {
            out.push_str(words[draws.below(words.len())]);
            return;
        }
        match self {
            Slot::Initial => {
                let name = FIRST_NAMES[draws.below(FIRST_NAMES.len())];
                out.push_str(&name[..1]);
            }
            Slot::Number => out.push_str(&(1 + draws.below(99)).to_string()),
            Slot::TwoDigits => out.push_str(&format!("{:02}", draws.below(100))),
            _ => out.push_str(&format!("{:03}", draws.below(1000))),
        }
    }
}

impl NameTemplate {
    /// Parses a template, saying what is wrong with it if it cannot make stealthy names.
    pub fn parse(text: &str) -> Result<NameTemplate, TemplateError> {
        let (path, pattern) = match text.rfind('/') {
            Some(end) => (&text[..=end], &text[end + 1..]),
            None => ("/", text),
        };
        check_path(path)?;
        let parts = parse_parts(pattern)?;
        if !parts.iter().any(|part| matches!(part, Part::Slot(_))) {
            return Err(TemplateError::NoPlaceholder);
        }
        let (min, max) = parts.iter().fold((0, 0), |(min, max), part| match part {
            Part::Literal(text) => (min + text.len(), max + text.len()),
            Part::Slot(slot) => {
                let (lo, hi) = slot.lengths();
                (min + lo, max + hi)
            }
        });
        if min > MAX_NAME_LEN {
            return Err(TemplateError::TooLong { shortest: min });
        }
        if max < MIN_NAME_LEN {
            return Err(TemplateError::TooShort { longest: max });
        }
        Ok(NameTemplate {
            source: text.to_owned(),
            paths: vec![path.to_owned()],
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The name this template gives the canary `id` on `attempt`, as [`generate_name`] does for
    /// the built-in templates.
    ///
    /// Candidates that the heuristics flag or that do not fit the name limits are skipped
    /// deterministically; the error says so when a template keeps producing them.
    pub fn render(&self, id: &str, attempt: u32) -> Result<CanaryName, RenderError> {
        render(std::slice::from_ref(self), id, attempt)
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for NameTemplate {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<NameTemplate, TemplateError> {
        NameTemplate::parse(text)
    }
}

fn check_path(path: &str) -> Result<(), TemplateError> {
    if path.len() > MAX_PATH_LEN {
        return Err(TemplateError::PathTooLong { len: path.len() });
    }
    if path.contains(['{', '}']) {
        return Err(TemplateError::PathPlaceholder { path: path.into() });
    }
    if let Some(found) = path.chars().find(|c| !('!'..='~').contains(c)) {
        return Err(TemplateError::PathCharacter { found });
    }
    let findings = check_name(path);
    if !findings.is_empty() {
        return Err(TemplateError::Flagged {
            text: path.into(),
            findings,
        });
    }
    Ok(())
}

fn parse_parts(pattern: &str) -> Result<Vec<Part>, TemplateError> {
    if pattern.is_empty() {
        return Err(TemplateError::Empty);
    }
    let mut parts = Vec::new();
    let mut rest = pattern;
    let mut at = 0;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or(TemplateError::Unclosed { at })?;
            let name = &after[..end];
            let slot = Slot::ALL
                .into_iter()
                .find(|slot| slot.placeholder() == name)
                .ok_or_else(|| TemplateError::UnknownPlaceholder {
                    name: name.into(),
                    at,
                })?;
            parts.push(Part::Slot(slot));
            rest = &after[end + 1..];
            at += end + 2;
            continue;
        }
        let end = rest.find(['{', '}']).unwrap_or(rest.len());
        if end == 0 {
            return Err(TemplateError::UnmatchedClose { at });
        }
        let literal = &rest[..end];
        if let Some((offset, found)) = literal.char_indices().find(|&(_, c)| !name_char(c)) {
            return Err(TemplateError::Character {
                found,
                at: at + offset,
            });
        }
        let findings = check_name(literal);
        if !findings.is_empty() {
            return Err(TemplateError::Flagged {
                text: literal.into(),
                findings,
            });
        }
        parts.push(Part::Literal(literal.into()));
        rest = &rest[end..];
        at += end;
    }
    Ok(parts)
}

/// Whether IAM user, federation and role session names all allow `c`: `[\w+=,.@-]`.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn render(templates: &[NameTemplate], id: &str, attempt: u32) -> Result<CanaryName, RenderError> {
    let mut draws = Draws::new(id, attempt);
    let mut last = String::new();
    let mut problem = String::new();
    for _ in 0..MAX_TRIES {
        let template = &templates[draws.below(templates.len())];
        let mut name = String::new();
        for part in &template.parts {
            match part {
                Part::Literal(text) => name.push_str(text),
                Part::Slot(slot) => slot.render(&mut draws, &mut name),
            }
        }
        let path = &template.paths[draws.below(template.paths.len())];
        let findings = check_name(&name);
        if let Some(finding) = findings.first() {
            problem = finding.to_string();
        } else if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&name.len()) {
            problem = format!(
                "has {} characters; names must have {MIN_NAME_LEN} to {MAX_NAME_LEN}",
                name.len()
            );
        } else {
            return Ok(CanaryName {
                name,
                path: path.clone(),
            });
        }
        last = name;
    }
    Err(RenderError {
        template: templates
            .iter()
            .map(NameTemplate::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        tries: MAX_TRIES,
        last,
        problem,
    })
}

/// A stream of choices seeded by a canary id and attempt.
///
/// Written out rather than taken from `rand` because names must stay the same across crate
/// versions: the registry may recompute a name to check it. FNV-1a folds the seed into 64 bits
/// and SplitMix64 draws from it.
struct Draws(u64);

impl Draws {
    fn new(id: &str, attempt: u32) -> Draws {
        const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const FNV_PRIME: u64 = 0x0100_0000_01b3;
        // The attempt's bytes always come last and are always four, so distinct (id, attempt)
        // pairs hash distinct byte strings.
        let seed = id
            .bytes()
            .chain(attempt.to_le_bytes())
            .fold(FNV_OFFSET, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
            });
        Draws(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A choice among `n`; the modulo bias is below 2^-50 for the list sizes used here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Why a naming template was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// Nothing follows the path.
    #[error("the template has no name after its path")]
    Empty,
    /// A `{` has no matching `}`.
    #[error("the placeholder opened at index {at} of the name is not closed with '}}'")]
    Unclosed {
        /// Where the `{` is, in bytes from the start of the name.
        at: usize,
    },
    /// A `}` has no `{` before it.
    #[error("'}}' at index {at} of the name closes no placeholder")]
    UnmatchedClose {
        /// Where the `}` is, in bytes from the start of the name.
        at: usize,
    },
    /// A placeholder is not one of the known ones.
    #[error(
        "unknown placeholder {{{name}}} at index {at} of the name; known: {}",
        known_placeholders()
    )]
    UnknownPlaceholder {
        /// The text between the braces.
        name: String,
        /// Where the `{` is, in bytes from the start of the name.
        at: usize,
    },
    /// Literal text has a character IAM names do not allow.
    #[error(
        "{found:?} at index {at} of the name; IAM names allow only letters, digits and _+=,.@-"
    )]
    Character {
        /// The offending character.
        found: char,
        /// Where it is, in bytes from the start of the name.
        at: usize,
    },
    /// The template has no placeholder, so every canary would get the same name.
    #[error("the template has no placeholder, so every canary would get the same name")]
    NoPlaceholder,
    /// The path has a placeholder.
    #[error("placeholders are not allowed in the path {path:?}; put them in the name")]
    PathPlaceholder {
        /// The path.
        path: String,
    },
    /// The path has a character IAM paths do not allow.
    #[error("{found:?} in the path; IAM paths allow only printable ASCII without spaces")]
    PathCharacter {
        /// The offending character.
        found: char,
    },
    /// The path is longer than IAM allows.
    #[error("the path has {len} characters; IAM allows 512")]
    PathTooLong {
        /// Its length.
        len: usize,
    },
    /// Literal text or the path would give the canary away.
    #[error("{text:?} would give the canary away: it {}", findings[0])]
    Flagged {
        /// The literal text or path.
        text: String,
        /// What the heuristics found in it; never empty.
        findings: Vec<NameFinding>,
    },
    /// Every name the template can make is too long for a federation name.
    #[error("the shortest name this template makes has {shortest} characters; names may have at most {MAX_NAME_LEN}")]
    TooLong {
        /// The length of the shortest name.
        shortest: usize,
    },
    /// Every name the template can make is too short.
    #[error("the longest name this template makes has {longest} characters; names need at least {MIN_NAME_LEN}")]
    TooShort {
        /// The length of the longest name.
        longest: usize,
    },
}

fn known_placeholders() -> String {
    Slot::ALL
        .map(|slot| format!("{{{}}}", slot.placeholder()))
        .join(", ")
}

/// A template kept producing names that the heuristics flag or that do not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "template {template:?} made no usable name in {tries} tries; the last, {last:?}, {problem}"
)]
pub struct RenderError {
    /// The template, or the built-in templates joined with ", ".
    pub template: String,
    /// How many candidates were drawn.
    pub tries: u32,
    /// The last candidate.
    pub last: String,
    /// What was wrong with it.
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_per_id_and_attempt() {
        for style in NameStyle::ALL {
            let name = generate_name(style, "k7d2mq4xbz", 0);
            assert_eq!(name, generate_name(style, "k7d2mq4xbz", 0));
            assert_ne!(name, generate_name(style, "k7d2mq4xbz", 1));
            assert_ne!(name, generate_name(style, "k7d2mq4xba", 0));
        }
    }

    #[test]
    fn names_stay_the_same_across_versions() {
        // The registry may recompute a name, so the choices must not drift; a change here
        // renames every canary that is recomputed.
        let service = generate_name(NameStyle::Service, "k7d2mq4xbz", 0);
        let person = generate_name(NameStyle::Person, "k7d2mq4xbz", 0);
        assert_eq!(
            (service.path.as_str(), service.name.as_str()),
            ("/svc/", "ci-ssm-task-74")
        );
        assert_eq!(
            (person.path.as_str(), person.name.as_str()),
            ("/engineering/", "c.wang6")
        );
    }

    #[test]
    fn user_templates_render_with_their_path() {
        let template = NameTemplate::parse("/ops/{service}-{verb}-{n2}").unwrap();
        assert_eq!(template.as_str(), "/ops/{service}-{verb}-{n2}");
        assert_eq!(template.to_string(), "/ops/{service}-{verb}-{n2}");
        let name = template.render("abc", 3).unwrap();
        assert_eq!(name.path, "/ops/");
        let (rest, digits) = name.name.rsplit_once('-').unwrap();
        assert_eq!(digits.len(), 2);
        let (service, verb) = rest.split_once('-').unwrap();
        assert!(SERVICES.contains(&service), "{service}");
        assert!(VERBS.contains(&verb), "{verb}");
        let name = NameTemplate::parse("{first}.{last}")
            .unwrap()
            .render("abc", 0)
            .unwrap();
        assert_eq!(name.path, "/");
    }

    #[test]
    fn every_placeholder_renders_as_documented() {
        let template: NameTemplate = "{team}.{initial}.{n}.{n2}.{n3}".parse().unwrap();
        for attempt in 0..50 {
            let name = template.render("id", attempt).unwrap().name;
            let fields: Vec<&str> = name.split('.').collect();
            assert!(TEAMS.contains(&fields[0]), "{name}");
            assert!(
                fields[1].len() == 1 && FIRST_NAMES.iter().any(|n| n.starts_with(fields[1])),
                "{name}"
            );
            let n: u32 = fields[2].parse().unwrap();
            assert!((1..=99).contains(&n), "{name}");
            assert!(
                fields[3].len() == 2 && fields[3].parse::<u32>().is_ok(),
                "{name}"
            );
            assert!(
                fields[4].len() == 3 && fields[4].parse::<u32>().is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn profile_names_are_plausible_and_deterministic() {
        for id in ["k7d2mq4xbz", "aaaaaaaaaa", "zzzzzzzzzz"] {
            for attempt in 0..50 {
                let name = profile_name(id, attempt);
                assert_eq!(name, profile_name(id, attempt));
                assert!(check_name(&name).is_empty(), "{name}");
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "{name}"
                );
                assert_ne!(name, "default");
            }
        }
        assert_ne!(profile_name("k7d2mq4xbz", 0), profile_name("k7d2mq4xbz", 1));
    }

    #[test]
    fn chosen_names_are_held_to_the_strictest_limits() {
        assert!(validate_name("legacy-deploy").is_ok());
        assert!(validate_name("a.b@c=d,e+f_g").is_ok());
        let short = validate_name("x").unwrap_err();
        assert!(short.contains("2 to 32"), "{short}");
        let long = validate_name(&"a".repeat(33)).unwrap_err();
        assert!(long.contains("33 characters"), "{long}");
        let space = validate_name("build bot").unwrap_err();
        assert!(space.contains("' '"), "{space}");
    }

    #[test]
    fn bad_templates_are_rejected_with_reasons() {
        let long_path = format!("/{}/{{n2}}", "a".repeat(520));
        let cases = [
            ("", "the template has no name after its path"),
            ("/ops/", "the template has no name after its path"),
            (
                "svc-{service",
                "the placeholder opened at index 4 of the name is not closed with '}'",
            ),
            (
                "svc}-{n2}",
                "'}' at index 3 of the name closes no placeholder",
            ),
            (
                "svc-{colour}-{n2}",
                "unknown placeholder {colour} at index 4 of the name; known: {team}, \
                 {service}, {verb}, {first}, {last}, {initial}, {n}, {n2}, {n3}",
            ),
            (
                "{n2}-svc reader",
                "' ' at index 8 of the name; IAM names allow only letters, digits and _+=,.@-",
            ),
            (
                "svc-reader",
                "the template has no placeholder, so every canary would get the same name",
            ),
            (
                "/{team}/{n2}",
                "placeholders are not allowed in the path \"/{team}/\"; put them in the name",
            ),
            (
                "/my ops/{n2}",
                "' ' in the path; IAM paths allow only printable ASCII without spaces",
            ),
            (&long_path, "the path has 522 characters; IAM allows 512"),
            (
                "{initial}",
                "the longest name this template makes has 1 characters; names need at least 2",
            ),
            (
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-{n3}",
                "the shortest name this template makes has 34 characters; names may have at \
                 most 32",
            ),
        ];
        for (template, message) in cases {
            assert_eq!(
                NameTemplate::parse(template).unwrap_err().to_string(),
                message,
                "{template}"
            );
        }
    }

    #[test]
    fn templates_that_give_canaries_away_are_rejected() {
        for (template, text) in [
            ("canary-{n2}", "canary-"),
            ("svc-{service}-trap{n2}", "-trap"),
            ("/honeypot/{first}.{last}", "/honeypot/"),
        ] {
            let error = NameTemplate::parse(template).unwrap_err();
            let TemplateError::Flagged { text: found, .. } = &error else {
                panic!("{template}: {error}");
            };
            assert_eq!(found, text);
            assert!(
                error.to_string().contains("would give the canary away"),
                "{error}"
            );
        }
    }

    #[test]
    fn templates_whose_names_keep_failing_give_up_with_the_reason() {
        // Thirty-two digits in a row are always a run of hex digits as long as a UUID.
        let template: NameTemplate = "{n3}{n3}{n3}{n3}{n3}{n3}{n3}{n3}{n3}{n3}{n2}"
            .parse()
            .unwrap();
        let error = template.render("id", 0).unwrap_err();
        assert_eq!(error.tries, MAX_TRIES);
        assert_eq!(error.last.len(), 32);
        assert!(error.problem.contains("UUID-shaped"), "{error}");
    }
}
