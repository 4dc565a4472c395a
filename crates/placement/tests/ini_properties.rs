//! Planting into generated credentials and config files: arbitrary profiles, keys, comments,
//! blank lines, odd spacing, continuation lines, LF or CRLF or both, a BOM or not, a final line
//! break or not. Planting then removing gives back the original bytes; planting changes no
//! byte that was there; the planted file reads as the same sections with the same values,
//! plus the new one.

use placement::ini::{credentials_section, FileKind, Section, SharedFile};
use placement::{render, Credentials, Format};
use proptest::prelude::*;

/// One line of a generated file, before its line break.
#[derive(Clone, Debug)]
enum Line {
    Header(String),
    Key {
        key: usize,
        spacing: usize,
        value: String,
    },
    Continuation(String),
    Comment(char, String),
    Blank(String),
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._@-]{0,12}"
}

fn value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9/+=:._ -]{0,24}".prop_map(|value| value.trim().to_owned())
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        3 => (0usize..6, 0usize..5, value()).prop_map(|(key, spacing, value)| Line::Key { key, spacing, value }),
        1 => "[a-z0-9 =]{1,12}".prop_map(|text| Line::Continuation(text.trim().to_owned())),
        1 => (prop_oneof![Just('#'), Just(';')], "[ -~]{0,30}").prop_map(|(c, text)| Line::Comment(c, text)),
        1 => "[ \t]{0,3}".prop_map(Line::Blank),
    ]
}

/// A file's lines: sections with unique names, each with lines below it, maybe a preamble of
/// comments and blank lines.
fn lines() -> impl Strategy<Value = Vec<Line>> {
    (
        proptest::collection::vec(
            prop_oneof![
                "[ -~]{0,20}".prop_map(|text| Line::Comment('#', text)),
                "[ \t]{0,2}".prop_map(Line::Blank),
            ],
            0..3,
        ),
        proptest::collection::btree_set(name(), 0..5),
        proptest::collection::vec(proptest::collection::vec(line(), 0..6), 5),
    )
        .prop_map(|(preamble, names, bodies)| {
            let mut lines = preamble;
            for (name, body) in names.into_iter().zip(bodies) {
                lines.push(Line::Header(name));
                let mut used = Vec::new();
                let mut open_key = false;
                for line in body {
                    match line {
                        Line::Key { key, .. } if used.contains(&key) => continue,
                        Line::Key { key, .. } => {
                            used.push(key);
                            open_key = true;
                        }
                        // A continuation needs a key above it to continue.
                        Line::Continuation(_) if !open_key => continue,
                        Line::Continuation(ref text) if text.is_empty() => continue,
                        _ => {}
                    }
                    lines.push(line);
                }
            }
            lines
        })
}

fn render_line(line: &Line) -> String {
    match line {
        Line::Header(name) => format!("[{name}]"),
        Line::Key {
            key,
            spacing,
            value,
        } => {
            let key = [
                "aws_access_key_id",
                "region",
                "Output",
                "role_arn",
                "x_y",
                "sso_start_url",
            ][*key];
            match spacing {
                0 => format!("{key}={value}"),
                1 => format!("{key} = {value}"),
                2 => format!("{key}:{value}"),
                3 => format!("{key}  =\t{value}  "),
                _ => format!("{key} =    {value}"),
            }
        }
        Line::Continuation(text) => format!("    {text}"),
        Line::Comment(c, text) => format!("{c}{text}"),
        Line::Blank(space) => space.clone(),
    }
}

/// The file: its lines joined by `\n` or `\r\n` (per line when `mixed`), with a BOM and a
/// final line break as chosen.
fn file() -> impl Strategy<Value = String> {
    (
        lines(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(lines, bom, crlf, mixed, final_newline, seed)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            for (n, line) in lines.iter().enumerate() {
                text.push_str(&render_line(line));
                let last = n + 1 == lines.len();
                if !last || final_newline {
                    let this_crlf = if mixed {
                        seed >> (n % 64) & 1 == 1
                    } else {
                        crlf
                    };
                    text.push_str(if this_crlf { "\r\n" } else { "\n" });
                }
            }
            text
        })
}

fn credentials() -> impl Strategy<Value = (String, String, Option<String>)> {
    (
        "(AKIA|ASIA)[A-Z2-7]{16}",
        "[A-Za-z0-9/+]{40}",
        proptest::option::of("[A-Za-z0-9/+=]{40,120}"),
    )
}

fn sections(file: &SharedFile) -> Vec<(String, Vec<(String, String)>)> {
    file.sections()
        .iter()
        .map(|section: &Section| {
            (
                section.header.clone(),
                section
                    .entries
                    .iter()
                    .map(|entry| (entry.key.clone(), entry.value.clone()))
                    .collect(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn planting_then_removing_gives_back_every_byte(
        original in file(),
        (key, secret, token) in credentials(),
        profile in "[a-z]{3,8}-[a-z]{3,8}",
    ) {
        let before = SharedFile::parse(&original, FileKind::Credentials).unwrap();
        prop_assume!(before.profile(&profile).is_none());
        let credentials = Credentials {
            access_key_id: &key,
            secret_access_key: &secret,
            session_token: token.as_deref(),
            expiration: None,
            region: "us-east-1",
        };
        let section = credentials_section(&profile, &credentials);
        let planted = before.plant(&profile, &section).unwrap();

        // No byte that was there changes: the section only follows them.
        prop_assert!(planted.text.starts_with(&original));

        // The same sections and values as before, plus the new one with the planted keys.
        let after = SharedFile::parse(&planted.text, FileKind::Credentials).unwrap();
        let mut expected = sections(&before);
        let mut keys = vec![
            ("aws_access_key_id".to_owned(), key.clone()),
            ("aws_secret_access_key".to_owned(), secret.clone()),
        ];
        if let Some(token) = &token {
            keys.push(("aws_session_token".to_owned(), token.clone()));
        }
        // A key left open at the end of the file would swallow an indented line; the
        // section starts at column 0, so it stands on its own.
        expected.push((profile.clone(), keys));
        prop_assert_eq!(sections(&after), expected);

        // Removing it gives back the original, byte for byte.
        let removed = after.remove(&profile, &section, &planted.separator).unwrap();
        prop_assert_eq!(&removed, &original);

        // Renewed in place and then removed, too.
        let renewed = Credentials { access_key_id: "ASIAQQQQQQQQQQQQQQQQ", session_token: Some("t0ken"), ..credentials };
        let new_section = credentials_section(&profile, &renewed);
        let replaced = after.replace(&profile, &section, &new_section).unwrap();
        let replaced = SharedFile::parse(&replaced, FileKind::Credentials).unwrap();
        prop_assert_eq!(replaced.profile(&profile).unwrap().get("aws_session_token"), Some("t0ken"));
        let removed = replaced.remove(&profile, &new_section, &planted.separator).unwrap();
        prop_assert_eq!(&removed, &original);
    }

    #[test]
    fn planting_a_config_profile_keeps_the_users_sections(
        original in file(),
        profile in "[a-z]{3,8}-[a-z]{3,8}",
    ) {
        let before = SharedFile::parse(&original, FileKind::Config).unwrap();
        prop_assume!(before.profile(&profile).is_none());
        let credentials = Credentials {
            access_key_id: "",
            secret_access_key: "",
            session_token: None,
            expiration: None,
            region: "eu-west-1",
        };
        let section = render(Format::CONFIG_PROFILE, &credentials, &profile);
        let planted = before.plant(&profile, &section).unwrap();
        prop_assert!(planted.text.starts_with(&original));
        let after = SharedFile::parse(&planted.text, FileKind::Config).unwrap();
        prop_assert_eq!(after.profile(&profile).unwrap().get("region"), Some("eu-west-1"));
        prop_assert_eq!(after.sections().len(), before.sections().len() + 1);
        prop_assert_eq!(after.remove(&profile, &section, &planted.separator).unwrap(), original);
    }
}
