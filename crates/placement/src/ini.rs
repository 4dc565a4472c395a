//! The AWS shared credentials and config files, read as the AWS CLI reads them and edited
//! without changing a byte outside the section being planted.
//!
//! The AWS CLI and botocore read these files with Python's `configparser.RawConfigParser`, so
//! this parser follows its rules: `#` and `;` start comment lines, `key = value` or
//! `key: value` (the key lower-cased), a line indented deeper than its key continues that
//! key's value, a section name may not repeat and neither may a key within a section. A file
//! the AWS CLI would refuse is refused here too, naming the line, so `plant` never builds on
//! a file it does not understand.
//!
//! Edits work on the text itself, never on a re-serialised model: a planted profile is
//! appended after the user's last byte, with just the line breaks that separation needs in
//! the file's own line-ending style, and removing it takes away exactly those bytes again.

use std::fmt;
use std::ops::Range;

use crate::format::text::profile_keys;
use crate::format::Credentials;

/// The byte-order mark some Windows editors put at the start of a UTF-8 file.
const BOM: &str = "\u{feff}";

/// Which of the two shared files a text is: their section names differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `~/.aws/credentials`: a section is named after its profile, `[name]`.
    Credentials,
    /// `~/.aws/config`: `[default]`, or `[profile name]` for any other profile.
    Config,
}

impl FileKind {
    /// The section header text (inside the brackets) of `profile` in this kind of file.
    pub fn header(self, profile: &str) -> String {
        match self {
            FileKind::Config if profile != "default" => format!("profile {profile}"),
            _ => profile.to_owned(),
        }
    }

    /// The profile a section header names, as botocore reads it; `None` for a config
    /// section that is not a profile (`[sso-session x]`, `[services x]`).
    fn profile_of(self, header: &str) -> Option<String> {
        match self {
            FileKind::Credentials => Some(header.to_owned()),
            FileKind::Config if header == "default" => Some(header.to_owned()),
            FileKind::Config => {
                let rest = header.strip_prefix("profile")?;
                let mut parts = rest.split_whitespace();
                match (
                    rest.starts_with(char::is_whitespace),
                    parts.next(),
                    parts.next(),
                ) {
                    (true, Some(name), None) => Some(name.to_owned()),
                    _ => None,
                }
            }
        }
    }
}

/// The line break a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Newline {
    /// `\n`.
    Lf,
    /// `\r\n`, as Windows editors write.
    CrLf,
}

impl Newline {
    /// The characters of this line break.
    pub fn as_str(self) -> &'static str {
        match self {
            Newline::Lf => "\n",
            Newline::CrLf => "\r\n",
        }
    }

    /// `text`, whose lines end in `\n`, with this line break instead.
    pub fn apply(self, text: &str) -> String {
        match self {
            Newline::Lf => text.to_owned(),
            Newline::CrLf => text.replace('\n', "\r\n"),
        }
    }
}

/// One `key = value` of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key, lower-cased as the AWS CLI reads it.
    pub key: String,
    /// The value, trimmed, with continuation lines joined by `\n`.
    pub value: String,
    /// The line it starts on, from 1.
    pub line: usize,
}

/// One `[section]` of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The text between the brackets, as written.
    pub header: String,
    /// The profile this section configures, if it is a profile.
    pub profile: Option<String>,
    /// The header's line, from 1.
    pub line: usize,
    /// Its bytes in the file: from the start of the header line to the start of the next
    /// header line, or the end of the file.
    pub span: Range<usize>,
    /// Its keys, in file order.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }
}

/// A credentials or config file's text with its sections found.
#[derive(Clone, Debug)]
pub struct SharedFile {
    kind: FileKind,
    text: String,
    newline: Newline,
    sections: Vec<Section>,
}

/// Why a file cannot be read as the AWS CLI reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line, from 1.
    pub line: usize,
    /// What was expected there.
    pub expected: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.expected)
    }
}

impl std::error::Error for ParseError {}

/// Why an edit of a file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The profile is in the file already.
    #[error("the profile {profile:?} is already in the file (line {line})")]
    ProfileExists {
        /// The profile.
        profile: String,
        /// Its header's line.
        line: usize,
    },
    /// The profile is not in the file.
    #[error("the profile {0:?} is not in the file")]
    ProfileMissing(String),
    /// The profile's section is no longer the text that was planted.
    #[error(
        "the profile {profile:?} (line {line}) was changed since it was planted ({why}); \
         it is left as it is"
    )]
    Changed {
        /// The profile.
        profile: String,
        /// Its header's line.
        line: usize,
        /// What differs.
        why: String,
    },
}

/// What planting a section added, so that removing it can take away exactly those bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    /// The file's new text.
    pub text: String,
    /// The line breaks put before the section to separate it from the text before it.
    pub separator: String,
}

impl SharedFile {
    /// Reads `text`, which may start with a byte-order mark and use either line break.
    pub fn parse(text: &str, kind: FileKind) -> Result<SharedFile, ParseError> {
        let offset = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let sections = parse_sections(&text[offset..], offset, kind)?;
        let newline = match text.find('\n') {
            Some(at) if text[..at].ends_with('\r') => Newline::CrLf,
            _ => Newline::Lf,
        };
        Ok(SharedFile {
            kind,
            text: text.to_owned(),
            newline,
            sections,
        })
    }

    /// The text as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The kind of file.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// The line break of the file's first line, which new lines follow; `\n` in a file of
    /// one line.
    pub fn newline(&self) -> Newline {
        self.newline
    }

    /// Every section, in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The section of `profile`.
    pub fn profile(&self, profile: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|section| section.profile.as_deref() == Some(profile))
    }

    /// Every profile the file names, in file order.
    pub fn profiles(&self) -> impl Iterator<Item = &str> {
        self.sections
            .iter()
            .filter_map(|section| section.profile.as_deref())
    }

    /// The text with `section` (rendered with `\n` line breaks, see
    /// [`render`](crate::render)) added at the end, in the file's line-ending style, after
    /// whatever line breaks separate it from the last line: none in an empty file, a blank
    /// line otherwise, and first the missing final line break.
    pub fn plant(&self, profile: &str, section: &str) -> Result<Planted, EditError> {
        if let Some(existing) = self.profile(profile) {
            return Err(EditError::ProfileExists {
                profile: profile.to_owned(),
                line: existing.line,
            });
        }
        let newline = self.newline.as_str();
        let body = self.text.strip_prefix(BOM).unwrap_or(&self.text);
        let separator = if body.is_empty() || body.ends_with(&format!("{newline}{newline}")) {
            String::new()
        } else if body.ends_with('\n') {
            newline.to_owned()
        } else {
            format!("{newline}{newline}")
        };
        let mut text = self.text.clone();
        text.push_str(&separator);
        text.push_str(&self.newline.apply(section));
        Ok(Planted { text, separator })
    }

    /// The text without the section of `profile` that held exactly `section` (rendered with
    /// `\n` line breaks), and without `separator` before it when that is still there.
    pub fn remove(
        &self,
        profile: &str,
        section: &str,
        separator: &str,
    ) -> Result<String, EditError> {
        let range = self.planted_range(profile, section)?;
        let start = if self.text[..range.start].ends_with(separator) {
            range.start - separator.len()
        } else {
            range.start
        };
        let mut text = String::with_capacity(self.text.len());
        text.push_str(&self.text[..start]);
        text.push_str(&self.text[range.end..]);
        Ok(text)
    }

    /// The text with the section of `profile` that held exactly `old` replaced by `new`
    /// (both rendered with `\n` line breaks), in place.
    pub fn replace(&self, profile: &str, old: &str, new: &str) -> Result<String, EditError> {
        let range = self.planted_range(profile, old)?;
        let mut text = String::with_capacity(self.text.len() + new.len());
        text.push_str(&self.text[..range.start]);
        text.push_str(&self.newline.apply(new));
        text.push_str(&self.text[range.end..]);
        Ok(text)
    }

    /// True when the section of `profile` is exactly `section` (rendered with `\n` line
    /// breaks) and nothing more: an edit that was already made, for instance by an earlier
    /// attempt that another writer raced.
    pub fn holds(&self, profile: &str, section: &str) -> bool {
        self.planted_range(profile, section).is_ok()
    }

    /// Where the planted `section` of `profile` is, checking that it is all of the profile's
    /// keys and still the text that was written.
    fn planted_range(&self, profile: &str, section: &str) -> Result<Range<usize>, EditError> {
        let found = self
            .profile(profile)
            .ok_or_else(|| EditError::ProfileMissing(profile.to_owned()))?;
        let changed = |why: String| EditError::Changed {
            profile: profile.to_owned(),
            line: found.line,
            why,
        };
        let expected = self.newline.apply(section);
        let start = found.span.start;
        let end = start + expected.len();
        if end > found.span.end || self.text[start..end] != expected {
            return Err(changed(
                "its lines differ from what tripkey wrote".to_owned(),
            ));
        }
        let written = SharedFile::parse(&expected, self.kind)
            .map(|file| file.sections.into_iter().flat_map(|s| s.entries).count())
            .unwrap_or_default();
        if found.entries.len() != written {
            let extra: Vec<&str> = found
                .entries
                .iter()
                .skip(written)
                .map(|entry| entry.key.as_str())
                .collect();
            return Err(changed(format!(
                "it also holds {}, which tripkey did not write",
                extra.join(", ")
            )));
        }
        Ok(start..end)
    }
}

/// The credentials-file section tripkey writes for `credentials`, as the values in a
/// parsed section would render it: the text [`SharedFile::remove`] and
/// [`SharedFile::replace`] expect to find.
pub fn credentials_section(profile: &str, credentials: &Credentials) -> String {
    crate::render(crate::Format::CREDENTIALS_PROFILE, credentials, profile)
}

/// The section `plant` would have written for the keys `section` holds now, if it holds the
/// keys of a planted credentials profile: the expected text when only the file, not the
/// secret, is at hand.
pub fn credentials_section_of(profile: &str, section: &Section) -> Option<String> {
    let credentials = Credentials {
        access_key_id: section.get("aws_access_key_id")?,
        secret_access_key: section.get("aws_secret_access_key")?,
        session_token: section.get("aws_session_token"),
        expiration: None,
        region: "",
    };
    let rendered = credentials_section(profile, &credentials);
    let keys = profile_keys(&credentials).len();
    (section.entries.len() == keys).then_some(rendered)
}

/// Finds the sections of `text` (which has no byte-order mark and starts at byte `offset` of
/// the file), refusing what `RawConfigParser` refuses.
fn parse_sections(text: &str, offset: usize, kind: FileKind) -> Result<Vec<Section>, ParseError> {
    let mut sections: Vec<Section> = Vec::new();
    // The indentation of the last key or header, and whether a key is open for
    // continuation lines: configparser's `indent_level` and `optname`.
    let mut indent_level = usize::MAX;
    let mut open_key = false;
    let mut start = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let line_start = start;
        start += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let value = line.trim();
        if value.is_empty() || value.starts_with(['#', ';']) {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if open_key && indent > indent_level {
            let entry = sections
                .last_mut()
                .and_then(|section| section.entries.last_mut())
                .expect("an open key belongs to a section");
            entry.value.push('\n');
            entry.value.push_str(value);
            continue;
        }
        indent_level = indent;
        if let Some(header) = section_header(value) {
            if let Some(first) = sections.iter().find(|section| section.header == header) {
                return Err(ParseError {
                    line: number,
                    expected: format!(
                        "a section name not used before, but [{header}] is also at line {}; \
                         the AWS CLI refuses a file with a repeated section",
                        first.line
                    ),
                });
            }
            if let Some(previous) = sections.last_mut() {
                previous.span.end = offset + line_start;
            }
            sections.push(Section {
                profile: kind.profile_of(header),
                header: header.to_owned(),
                line: number,
                span: offset + line_start..offset + text.len(),
                entries: Vec::new(),
            });
            open_key = false;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(ParseError {
                line: number,
                expected: "a [section] header before the first key".to_owned(),
            });
        };
        let Some(delimiter) = value.find(['=', ':']) else {
            return Err(ParseError {
                line: number,
                expected: "`key = value`, a [section] header, or a comment starting with # or ;"
                    .to_owned(),
            });
        };
        let key = value[..delimiter].trim_end().to_lowercase();
        if key.is_empty() {
            return Err(ParseError {
                line: number,
                expected: "a key name before the `=`".to_owned(),
            });
        }
        if let Some(first) = section.entries.iter().find(|entry| entry.key == key) {
            return Err(ParseError {
                line: number,
                expected: format!(
                    "a key not used before in [{}], but {key} is also at line {}; the AWS CLI \
                     refuses a section with a repeated key",
                    section.header, first.line
                ),
            });
        }
        section.entries.push(Entry {
            key,
            value: value[delimiter + 1..].trim().to_owned(),
            line: number,
        });
        open_key = true;
    }
    Ok(sections)
}

/// The name of a `[section]` header line (already trimmed): `configparser` takes the text up
/// to the last `]`, ignoring anything after it.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then(|| &rest[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: Credentials<'static> = Credentials {
        access_key_id: "AKIARTX3GSDS5ZZ46JLN",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        expiration: None,
        region: "eu-west-1",
    };

    fn parse(text: &str) -> SharedFile {
        SharedFile::parse(text, FileKind::Credentials).unwrap()
    }

    fn error(text: &str) -> ParseError {
        SharedFile::parse(text, FileKind::Credentials).unwrap_err()
    }

    #[test]
    fn reads_sections_keys_comments_and_continuations_as_configparser_does() {
        let file = parse(
            "# work\n[default]\nAWS_Access_Key_Id=AKIA1\n; note\n\n[dev]\nregion: eu-west-1\n\
             s3 =\n  max_concurrent_requests = 20\n  [not-a-header]\n",
        );
        let names: Vec<_> = file.profiles().collect();
        assert_eq!(names, ["default", "dev"]);
        assert_eq!(
            file.profile("default").unwrap().get("aws_access_key_id"),
            Some("AKIA1")
        );
        let dev = file.profile("dev").unwrap();
        assert_eq!(dev.line, 6);
        assert_eq!(
            dev.get("s3"),
            Some("\nmax_concurrent_requests = 20\n[not-a-header]")
        );
        assert_eq!(dev.span, 49..file.text().len());
    }

    #[test]
    fn config_profiles_are_named_as_botocore_names_them() {
        let file = SharedFile::parse(
            "[default]\n[profile ops]\n[profile  two  ]\n[sso-session corp]\n[profile]\n[profiles x]\n",
            FileKind::Config,
        )
        .unwrap();
        let names: Vec<_> = file.profiles().collect();
        assert_eq!(names, ["default", "ops", "two"]);
        assert_eq!(FileKind::Config.header("ops"), "profile ops");
        assert_eq!(FileKind::Config.header("default"), "default");
    }

    #[test]
    fn refuses_what_the_aws_cli_refuses_naming_the_line() {
        assert_eq!(error("key = value\n").line, 1);
        assert!(error("\n\nkey = value\n").expected.contains("header"));
        let repeated = error("[a]\nx = 1\n[b]\n[a]\n");
        assert_eq!(repeated.line, 4);
        assert!(
            repeated.to_string().contains("also at line 1"),
            "{repeated}"
        );
        assert_eq!(error("[a]\nx = 1\nX = 2\n").line, 3);
        assert_eq!(error("[a]\njust words\n").line, 2);
        assert_eq!(error("[a]\n = 1\n").line, 2);
        assert_eq!(error("[]\n").line, 1);
    }

    #[test]
    fn planting_appends_with_the_separation_the_file_needs() {
        let section = credentials_section("canary", &KEYS);
        for (before, separator) in [
            ("", ""),
            ("[a]\nx = 1\n", "\n"),
            ("[a]\nx = 1", "\n\n"),
            ("[a]\nx = 1\n\n", ""),
            ("\u{feff}", ""),
        ] {
            let planted = parse(before).plant("canary", &section).unwrap();
            assert_eq!(planted.separator, separator, "{before:?}");
            assert_eq!(planted.text, format!("{before}{separator}{section}"));
        }
    }

    #[test]
    fn a_crlf_file_gets_crlf_lines_and_loses_them_again() {
        let before = "\u{feff}# mine\r\n[a]\r\nx = 1";
        let section = credentials_section("canary", &KEYS);
        let planted = parse(before).plant("canary", &section).unwrap();
        assert_eq!(planted.separator, "\r\n\r\n");
        assert!(planted.text.ends_with("[canary]\r\naws_access_key_id = AKIARTX3GSDS5ZZ46JLN\r\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\r\n"));
        let after = parse(&planted.text);
        let removed = after
            .remove("canary", &section, &planted.separator)
            .unwrap();
        assert_eq!(removed, before);
    }

    #[test]
    fn an_existing_profile_is_never_planted_over() {
        let section = credentials_section("dev", &KEYS);
        assert_eq!(
            parse("[x]\n[dev]\n").plant("dev", &section),
            Err(EditError::ProfileExists {
                profile: "dev".to_owned(),
                line: 2
            })
        );
    }

    #[test]
    fn a_planted_profile_the_user_changed_is_not_removed_or_replaced() {
        let section = credentials_section("canary", &KEYS);
        let planted = parse("[a]\n").plant("canary", &section).unwrap();
        let added_key = format!("{}region = us-east-1\n", planted.text);
        let error = parse(&added_key)
            .remove("canary", &section, &planted.separator)
            .unwrap_err();
        assert!(error.to_string().contains("also holds region"), "{error}");
        let edited = planted.text.replace("EXAMPLEKEY", "EXAMPLEKEX");
        assert!(matches!(
            parse(&edited).replace("canary", &section, "[canary]\n"),
            Err(EditError::Changed { .. })
        ));
        assert_eq!(
            parse("[a]\n").remove("canary", &section, ""),
            Err(EditError::ProfileMissing("canary".to_owned()))
        );
    }

    #[test]
    fn a_planted_profile_in_the_middle_is_replaced_in_place() {
        let section = credentials_section("canary", &KEYS);
        let planted = parse("[a]\n").plant("canary", &section).unwrap();
        let text = format!("{}\n[later]\nx = 1\n", planted.text);
        let renewed = Credentials {
            access_key_id: "ASIARTX3GSDS5ZZ46JLN",
            session_token: Some("token"),
            ..KEYS
        };
        let new = credentials_section("canary", &renewed);
        let replaced = parse(&text).replace("canary", &section, &new).unwrap();
        assert_eq!(replaced, format!("[a]\n\n{new}\n[later]\nx = 1\n"),);
        let file = parse(&replaced);
        let found = credentials_section_of("canary", file.profile("canary").unwrap()).unwrap();
        assert_eq!(found, new);
        assert_eq!(
            file.remove("canary", &new, "\n").unwrap(),
            "[a]\n\n[later]\nx = 1\n"
        );
    }
}
