//! Rendering credentials into the text of each placement format.
//!
//! Each format is one file in this folder holding its [`Spec`]: its id, its title, the file
//! name it usually lives in, and its renderer. [`Format::ALL`] registers it, one line each.

mod config_profile;
mod credential_process;
mod credentials_profile;
mod dotenv;
mod env;
mod fish;
mod github_actions;
mod gitlab_ci;
mod kubernetes;
mod powershell;
mod secrets_manager;
mod sts_json;
mod terraform;
pub(crate) mod text;

use std::fmt;

/// The credentials of one issued canary, borrowed from wherever they are held.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The access key ID, `AKIA…` or `ASIA…`.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of short-term credentials; `None` for an IAM user's key.
    pub session_token: Option<&'a str>,
    /// When short-term credentials run out, as RFC 3339 (`2026-12-05T19:00:00Z`); `None` for
    /// an IAM user's key.
    pub expiration: Option<&'a str>,
    /// The region the placement names, so tools that need one find it there.
    pub region: &'a str,
}

/// What defines one format.
pub(crate) struct Spec {
    /// The stable identifier.
    id: &'static str,
    /// A short title for people.
    title: &'static str,
    /// The file name the format usually lives in.
    file_name: &'static str,
    /// Renders credentials under a name (a profile's, a Secret's), ending with a line break.
    render: fn(&Credentials, &str) -> String,
}

/// A format credentials are planted in.
#[derive(Clone, Copy)]
pub struct Format(&'static Spec);

impl Format {
    /// A named profile of the AWS shared credentials file (`~/.aws/credentials`): the keys.
    pub const CREDENTIALS_PROFILE: Format = Format(&credentials_profile::SPEC);
    /// The matching profile of the AWS config file (`~/.aws/config`): region and output.
    pub const CONFIG_PROFILE: Format = Format(&config_profile::SPEC);
    /// `export VAR=value` lines for sh, bash and zsh.
    pub const ENV: Format = Format(&env::SPEC);

    /// Every format, in the order a list of them is shown. A new format is a file in this
    /// folder and its line here.
    pub const ALL: [Format; 13] = [
        Format::CREDENTIALS_PROFILE,
        Format::CONFIG_PROFILE,
        Format::ENV,
        Format(&fish::SPEC),
        Format(&powershell::SPEC),
        Format(&dotenv::SPEC),
        Format(&credential_process::SPEC),
        Format(&sts_json::SPEC),
        Format(&secrets_manager::SPEC),
        Format(&kubernetes::SPEC),
        Format(&github_actions::SPEC),
        Format(&gitlab_ci::SPEC),
        Format(&terraform::SPEC),
    ];

    /// The stable identifier, as used in URLs, flags and JSON, such as `credentials-profile`
    /// or `kubernetes`. [`FromStr`](std::str::FromStr) reads it back.
    pub fn id(self) -> &'static str {
        self.0.id
    }

    /// A short title for people, such as `~/.aws/credentials profile`.
    pub fn title(self) -> &'static str {
        self.0.title
    }

    /// The file name this format usually lives in, for `--output` hints and downloads.
    pub fn file_name(self) -> &'static str {
        self.0.file_name
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Format) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Format {}

impl std::hash::Hash for Format {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Format({})", self.id())
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
/// `name` is the profile of the credentials and config profiles and the `metadata.name` of
/// the Kubernetes Secret (lower-cased, with characters Kubernetes refuses turned into `-`);
/// the other formats ignore it. The caller validates a profile name
/// ([`check_profile_name`](crate::check_profile_name)): the right refusal, for instance of
/// `default`, depends on where the profile goes.
///
/// The profiles are written the way `aws configure set` writes them (`key = value`), without
/// a leading blank line: a caller adding one to a file supplies the separation that file
/// needs.
pub fn render(format: Format, credentials: &Credentials, name: &str) -> String {
    (format.0.render)(credentials, name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const LONG_TERM: Credentials<'static> = Credentials {
        access_key_id: "AKIARTX3GSDS5ZZ46JLN",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        expiration: None,
        region: "eu-west-1",
    };

    pub(crate) const SHORT_TERM: Credentials<'static> = Credentials {
        access_key_id: "ASIARTX3GSDS5ZZ46JLN",
        secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ=="),
        expiration: Some("2026-12-05T19:00:00Z"),
        region: "us-east-1",
    };

    #[test]
    fn format_ids_are_unique_read_back_and_unknown_ones_name_the_choices() {
        for (n, format) in Format::ALL.iter().enumerate() {
            assert_eq!(format.id().parse::<Format>(), Ok(*format));
            assert_eq!(format.to_string(), format.id());
            assert!(!format.title().is_empty());
            assert!(!format.file_name().is_empty());
            assert!(
                Format::ALL[n + 1..]
                    .iter()
                    .all(|other| other.id() != format.id()),
                "{format} is registered twice"
            );
            assert!(
                render(*format, &SHORT_TERM, "x").ends_with('\n'),
                "{format}"
            );
        }
        let error = "yaml".parse::<Format>().unwrap_err().to_string();
        assert!(
            error.starts_with(
                "\"yaml\" is not a credentials format; use one of credentials-profile, \
                 config-profile, env,"
            ),
            "{error}"
        );
    }
}
