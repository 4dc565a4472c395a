//! Canary credentials rendered in the formats they get planted in: a named profile of the AWS
//! shared credentials file, shell exports, a `.env` file, and the JSON a `credential_process`
//! prints.
//!
//! Rendering is pure: it returns text and touches no file, so the CLI, the API and the
//! dashboard all show the same bytes for the same canary.
//!
//! ```
//! use placement::{render, Credentials, Format};
//!
//! let credentials = Credentials {
//!     access_key_id: "AKIARTX3GSDS5ZZ46JLN",
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
//!     session_token: None,
//!     region: "us-east-1",
//! };
//! let profile = render(Format::CredentialsProfile, &credentials, "billing-admin");
//! assert!(profile.starts_with("[billing-admin]\naws_access_key_id = AKIARTX3GSDS5ZZ46JLN\n"));
//! assert_eq!("dotenv".parse::<Format>()?, Format::DotEnv);
//! # Ok::<(), placement::UnknownFormat>(())
//! ```

#![warn(missing_docs)]

use std::fmt::{self, Write};

/// The credentials of one issued canary, borrowed from wherever they are held.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The access key ID, `AKIA…` or `ASIA…`.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of short-term credentials; `None` for an IAM user's key.
    pub session_token: Option<&'a str>,
    /// The region the planted profile names, so tools that need one find it there.
    pub region: &'a str,
}

/// A format credentials are planted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A named profile of the AWS shared credentials file (`~/.aws/credentials`).
    CredentialsProfile,
    /// `export VAR=value` lines for a POSIX shell.
    EnvExports,
    /// `VAR=value` lines of a `.env` file.
    DotEnv,
    /// The JSON document a `credential_process` prints.
    Json,
}

impl Format {
    /// Every format, in the order a list of them is shown.
    pub const ALL: [Format; 4] = [
        Format::CredentialsProfile,
        Format::EnvExports,
        Format::DotEnv,
        Format::Json,
    ];

    /// The stable identifier, as used in URLs, flags and JSON: `credentials-profile`, `env`,
    /// `dotenv` or `json`. [`FromStr`](std::str::FromStr) reads it back.
    pub fn id(self) -> &'static str {
        match self {
            Format::CredentialsProfile => "credentials-profile",
            Format::EnvExports => "env",
            Format::DotEnv => "dotenv",
            Format::Json => "json",
        }
    }

    /// A short title for people, such as `~/.aws/credentials profile`.
    pub fn title(self) -> &'static str {
        match self {
            Format::CredentialsProfile => "~/.aws/credentials profile",
            Format::EnvExports => "Shell exports",
            Format::DotEnv => ".env file",
            Format::Json => "JSON (credential_process)",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A format identifier that names no [`Format`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a credentials format; use one of ", self.0)?;
        for (n, format) in Format::ALL.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            f.write_str(format.id())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownFormat {}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.id() == text)
            .ok_or_else(|| UnknownFormat(text.to_owned()))
    }
}

/// Renders `credentials` in `format`, ending with a line break.
///
/// `profile` names the section of [`Format::CredentialsProfile`] and is ignored by the other
/// formats. The caller validates it: a name holding `]`, a line break or a comment character
/// would break the file, and the right refusal (for instance of `default`) depends on where the
/// profile goes. Names made by `keys::profile_name` are always safe.
///
/// The profile is written the way `aws configure set` writes one (`key = value`), without a
/// leading blank line: a caller appending it to a file supplies the separation that file needs.
pub fn render(format: Format, credentials: &Credentials, profile: &str) -> String {
    let mut out = String::new();
    let token = credentials.session_token;
    match format {
        Format::CredentialsProfile => {
            let _ = writeln!(out, "[{profile}]");
            let _ = writeln!(out, "aws_access_key_id = {}", credentials.access_key_id);
            let _ = writeln!(
                out,
                "aws_secret_access_key = {}",
                credentials.secret_access_key
            );
            if let Some(token) = token {
                let _ = writeln!(out, "aws_session_token = {token}");
            }
            let _ = writeln!(out, "region = {}", credentials.region);
        }
        Format::EnvExports | Format::DotEnv => {
            let prefix = if format == Format::EnvExports {
                "export "
            } else {
                ""
            };
            let quote = if format == Format::EnvExports {
                shell_quote
            } else {
                dotenv_quote
            };
            for (name, value) in environment(credentials) {
                let _ = writeln!(out, "{prefix}{name}={}", quote(value));
            }
        }
        Format::Json => {
            out.push_str("{\n  \"Version\": 1,\n");
            let _ = write!(
                out,
                "  \"AccessKeyId\": {},\n  \"SecretAccessKey\": {}",
                json_string(credentials.access_key_id),
                json_string(credentials.secret_access_key)
            );
            if let Some(token) = token {
                let _ = write!(out, ",\n  \"SessionToken\": {}", json_string(token));
            }
            out.push_str("\n}\n");
        }
    }
    out
}

/// The environment variables the AWS CLI and SDKs read, in the order they are written. Both
/// region variables: the AWS CLI reads `AWS_DEFAULT_REGION`, the SDKs `AWS_REGION`.
fn environment<'a>(credentials: &Credentials<'a>) -> Vec<(&'static str, &'a str)> {
    let mut variables = vec![
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
    ];
    if let Some(token) = credentials.session_token {
        variables.push(("AWS_SESSION_TOKEN", token));
    }
    variables.push(("AWS_DEFAULT_REGION", credentials.region));
    variables.push(("AWS_REGION", credentials.region));
    variables
}

/// Characters a shell and a `.env` parser both take literally in an unquoted value. Keys,
/// secrets (`+`, `/`) and session tokens (`=`) stay unquoted, as people write them.
fn plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.:,@%".contains(c))
}

/// A POSIX shell word for `value`: as is when that is safe, else single-quoted, where nothing
/// but `'` itself is special.
fn shell_quote(value: &str) -> String {
    if plain(value) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// A `.env` value: as is when that is safe, else single-quoted (taken literally by dotenv
/// parsers); a value holding `'` itself is double-quoted with `\`, `"`, `$` and line breaks
/// escaped, since single quotes cannot be escaped there.
fn dotenv_quote(value: &str) -> String {
    if plain(value) {
        value.to_owned()
    } else if !value.contains(['\'', '\n', '\r']) {
        format!("'{value}'")
    } else {
        let mut quoted = String::from("\"");
        for c in value.chars() {
            match c {
                '\\' | '"' | '$' => {
                    quoted.push('\\');
                    quoted.push(c);
                }
                '\n' => quoted.push_str(r"\n"),
                '\r' => quoted.push_str(r"\r"),
                _ => quoted.push(c),
            }
        }
        quoted.push('"');
        quoted
    }
}

/// `value` as a JSON string literal.
fn json_string(value: &str) -> String {
    let mut literal = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(literal, "\\u{:04x}", u32::from(c));
            }
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG_TERM: Credentials<'static> = Credentials {
        access_key_id: "AKIARTX3GSDS5ZZ46JLN",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        region: "eu-west-1",
    };

    const SHORT_TERM: Credentials<'static> = Credentials {
        access_key_id: "ASIARTX3GSDS5ZZ46JLN",
        secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ=="),
        region: "us-east-1",
    };

    #[test]
    fn a_credentials_profile_is_written_as_aws_configure_writes_it() {
        assert_eq!(
            render(Format::CredentialsProfile, &LONG_TERM, "billing-admin"),
            "[billing-admin]\n\
             aws_access_key_id = AKIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
             region = eu-west-1\n"
        );
        assert_eq!(
            render(Format::CredentialsProfile, &SHORT_TERM, "ops-deploy"),
            "[ops-deploy]\n\
             aws_access_key_id = ASIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\
             aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\n\
             region = us-east-1\n"
        );
    }

    #[test]
    fn shell_exports_leave_key_material_unquoted_and_name_both_region_variables() {
        assert_eq!(
            render(Format::EnvExports, &SHORT_TERM, "ignored"),
            "export AWS_ACCESS_KEY_ID=ASIARTX3GSDS5ZZ46JLN\n\
             export AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\
             export AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\n\
             export AWS_DEFAULT_REGION=us-east-1\n\
             export AWS_REGION=us-east-1\n"
        );
        assert!(!render(Format::EnvExports, &LONG_TERM, "x").contains("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn shell_exports_quote_what_a_shell_would_interpret() {
        let odd = Credentials {
            region: "it's $HOME; rm -rf /",
            ..LONG_TERM
        };
        let text = render(Format::EnvExports, &odd, "x");
        assert!(
            text.contains("export AWS_REGION='it'\\''s $HOME; rm -rf /'\n"),
            "{text}"
        );
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn dotenv_lines_have_no_export_and_quote_only_when_needed() {
        assert_eq!(
            render(Format::DotEnv, &LONG_TERM, "x"),
            "AWS_ACCESS_KEY_ID=AKIARTX3GSDS5ZZ46JLN\n\
             AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
             AWS_DEFAULT_REGION=eu-west-1\n\
             AWS_REGION=eu-west-1\n"
        );
        assert_eq!(dotenv_quote("a b#c"), "'a b#c'");
        assert_eq!(dotenv_quote("it's \"$x\"\n"), r#""it's \"\$x\"\n""#);
    }

    #[test]
    fn json_is_what_credential_process_prints() {
        assert_eq!(
            render(Format::Json, &LONG_TERM, "x"),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIARTX3GSDS5ZZ46JLN\",\n  \
             \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n}\n"
        );
        assert!(render(Format::Json, &SHORT_TERM, "x")
            .contains("\"SessionToken\": \"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\"\n}"));
        assert_eq!(json_string("a\"\\\n\u{1}"), r#""a\"\\\n\u0001""#);
    }

    #[test]
    fn format_ids_read_back_and_unknown_ones_name_the_choices() {
        for format in Format::ALL {
            assert_eq!(format.id().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.id());
            assert!(!format.title().is_empty());
        }
        let error = "yaml".parse::<Format>().unwrap_err().to_string();
        assert_eq!(
            error,
            "\"yaml\" is not a credentials format; use one of credentials-profile, env, dotenv, json"
        );
    }
}
