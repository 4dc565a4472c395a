//! Rendering credentials into the text of each placement format.

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
    /// When short-term credentials run out, as RFC 3339 (`2026-12-05T19:00:00Z`); `None` for
    /// an IAM user's key.
    pub expiration: Option<&'a str>,
    /// The region the placement names, so tools that need one find it there.
    pub region: &'a str,
}

/// A format credentials are planted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A named profile of the AWS shared credentials file (`~/.aws/credentials`): the keys.
    CredentialsProfile,
    /// The matching profile of the AWS config file (`~/.aws/config`): region and output.
    ConfigProfile,
    /// `export VAR=value` lines for sh, bash and zsh.
    EnvExports,
    /// `set -gx VAR 'value'` lines for fish.
    Fish,
    /// `$Env:VAR = 'value'` lines for PowerShell.
    PowerShell,
    /// `VAR=value` lines of a `.env` file.
    DotEnv,
    /// The JSON document a `credential_process` prints.
    Json,
    /// The JSON `aws sts get-session-token` prints.
    StsJson,
    /// A Secrets Manager secret value: a JSON object of the environment variables, the shape
    /// ECS and Lambda map into a task's environment.
    SecretsManager,
    /// A Kubernetes `Secret` manifest holding the environment variables.
    Kubernetes,
    /// The `env:` block of a GitHub Actions workflow.
    GitHubActions,
    /// The `variables:` block of a `.gitlab-ci.yml`.
    GitLabCi,
    /// A Terraform `.tfvars` file.
    Terraform,
}

impl Format {
    /// Every format, in the order a list of them is shown.
    pub const ALL: [Format; 13] = [
        Format::CredentialsProfile,
        Format::ConfigProfile,
        Format::EnvExports,
        Format::Fish,
        Format::PowerShell,
        Format::DotEnv,
        Format::Json,
        Format::StsJson,
        Format::SecretsManager,
        Format::Kubernetes,
        Format::GitHubActions,
        Format::GitLabCi,
        Format::Terraform,
    ];

    /// The stable identifier, as used in URLs, flags and JSON, such as `credentials-profile`
    /// or `kubernetes`. [`FromStr`](std::str::FromStr) reads it back.
    pub fn id(self) -> &'static str {
        match self {
            Format::CredentialsProfile => "credentials-profile",
            Format::ConfigProfile => "config-profile",
            Format::EnvExports => "env",
            Format::Fish => "fish",
            Format::PowerShell => "powershell",
            Format::DotEnv => "dotenv",
            Format::Json => "json",
            Format::StsJson => "sts-json",
            Format::SecretsManager => "secrets-manager",
            Format::Kubernetes => "kubernetes",
            Format::GitHubActions => "github-actions",
            Format::GitLabCi => "gitlab-ci",
            Format::Terraform => "terraform",
        }
    }

    /// A short title for people, such as `~/.aws/credentials profile`.
    pub fn title(self) -> &'static str {
        match self {
            Format::CredentialsProfile => "~/.aws/credentials profile",
            Format::ConfigProfile => "~/.aws/config profile",
            Format::EnvExports => "Shell exports (sh, bash, zsh)",
            Format::Fish => "fish",
            Format::PowerShell => "PowerShell",
            Format::DotEnv => ".env file",
            Format::Json => "JSON (credential_process)",
            Format::StsJson => "JSON (aws sts get-session-token)",
            Format::SecretsManager => "Secrets Manager secret value",
            Format::Kubernetes => "Kubernetes Secret",
            Format::GitHubActions => "GitHub Actions env",
            Format::GitLabCi => "GitLab CI variables",
            Format::Terraform => "Terraform .tfvars",
        }
    }

    /// The file name this format usually lives in, for `--output` hints and downloads.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::CredentialsProfile => "credentials",
            Format::ConfigProfile => "config",
            Format::EnvExports => "aws.env.sh",
            Format::Fish => "aws.fish",
            Format::PowerShell => "aws.ps1",
            Format::DotEnv => ".env",
            Format::Json => "credentials.json",
            Format::StsJson => "session-token.json",
            Format::SecretsManager => "secret.json",
            Format::Kubernetes => "secret.yaml",
            Format::GitHubActions => "workflow-env.yml",
            Format::GitLabCi => ".gitlab-ci.yml",
            Format::Terraform => "terraform.tfvars",
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
/// `name` is the profile of [`Format::CredentialsProfile`] and [`Format::ConfigProfile`] and
/// the `metadata.name` of [`Format::Kubernetes`] (lower-cased, with characters Kubernetes
/// refuses turned into `-`); the other formats ignore it. The caller validates a profile name
/// ([`check_profile_name`](crate::check_profile_name)): the right refusal, for instance of
/// `default`, depends on where the profile goes.
///
/// The profiles are written the way `aws configure set` writes them (`key = value`), without
/// a leading blank line: a caller adding one to a file supplies the separation that file
/// needs.
pub fn render(format: Format, credentials: &Credentials, name: &str) -> String {
    let mut out = String::new();
    match format {
        Format::CredentialsProfile => {
            let _ = writeln!(out, "[{name}]");
            for (key, value) in profile_keys(credentials) {
                let _ = writeln!(out, "{key} = {value}");
            }
        }
        Format::ConfigProfile => {
            if name == "default" {
                out.push_str("[default]\n");
            } else {
                let _ = writeln!(out, "[profile {name}]");
            }
            let _ = writeln!(out, "region = {}", credentials.region);
            out.push_str("output = json\n");
        }
        Format::EnvExports => {
            for (variable, value) in environment(credentials) {
                let _ = writeln!(out, "export {variable}={}", shell_quote(value));
            }
        }
        Format::Fish => {
            for (variable, value) in environment(credentials) {
                let _ = writeln!(out, "set -gx {variable} {}", fish_quote(value));
            }
        }
        Format::PowerShell => {
            for (variable, value) in environment(credentials) {
                let _ = writeln!(out, "$Env:{variable} = {}", powershell_quote(value));
            }
        }
        Format::DotEnv => {
            for (variable, value) in environment(credentials) {
                let _ = writeln!(out, "{variable}={}", dotenv_quote(value));
            }
        }
        Format::Json => {
            let mut fields = vec![("Version", "1".to_owned())];
            fields.extend(
                sts_fields(credentials)
                    .into_iter()
                    .map(|(key, value)| (key, json_string(value))),
            );
            json_object(&mut out, &fields, 2, 0);
        }
        Format::StsJson => {
            let fields: Vec<_> = sts_fields(credentials)
                .into_iter()
                .map(|(key, value)| (key, json_string(value)))
                .collect();
            out.push_str("{\n    \"Credentials\": ");
            json_object(&mut out, &fields, 4, 4);
            out.push_str("}\n");
        }
        Format::SecretsManager => {
            let fields: Vec<_> = environment(credentials)
                .into_iter()
                .map(|(key, value)| (key, json_string(value)))
                .collect();
            json_object(&mut out, &fields, 2, 0);
        }
        Format::Kubernetes => {
            out.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
            let _ = writeln!(out, "  name: {}", kubernetes_name(name));
            out.push_str("type: Opaque\nstringData:\n");
            yaml_mapping(&mut out, credentials);
        }
        Format::GitHubActions => {
            out.push_str("env:\n");
            yaml_mapping(&mut out, credentials);
        }
        Format::GitLabCi => {
            out.push_str("variables:\n");
            yaml_mapping(&mut out, credentials);
        }
        Format::Terraform => {
            let _ = writeln!(
                out,
                "aws_access_key = {}",
                hcl_string(credentials.access_key_id)
            );
            let _ = writeln!(
                out,
                "aws_secret_key = {}",
                hcl_string(credentials.secret_access_key)
            );
            if let Some(token) = credentials.session_token {
                let _ = writeln!(out, "aws_session_token = {}", hcl_string(token));
            }
            let _ = writeln!(out, "aws_region = {}", hcl_string(credentials.region));
        }
    }
    out
}

/// The keys of a credentials-file profile, in the order `aws configure` writes them.
pub(crate) fn profile_keys<'a>(credentials: &Credentials<'a>) -> Vec<(&'static str, &'a str)> {
    let mut keys = vec![
        ("aws_access_key_id", credentials.access_key_id),
        ("aws_secret_access_key", credentials.secret_access_key),
    ];
    if let Some(token) = credentials.session_token {
        keys.push(("aws_session_token", token));
    }
    keys
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

/// The fields STS names credentials by, in the order it prints them.
fn sts_fields<'a>(credentials: &Credentials<'a>) -> Vec<(&'static str, &'a str)> {
    let mut fields = vec![
        ("AccessKeyId", credentials.access_key_id),
        ("SecretAccessKey", credentials.secret_access_key),
    ];
    if let Some(token) = credentials.session_token {
        fields.push(("SessionToken", token));
    }
    if let Some(expiration) = credentials.expiration {
        fields.push(("Expiration", expiration));
    }
    fields
}

/// Writes a JSON object of already-encoded values, its members indented by `outer + step`
/// spaces and its closing brace by `outer`, then a line break.
fn json_object(out: &mut String, fields: &[(&str, String)], step: usize, outer: usize) {
    out.push_str("{\n");
    for (n, (key, value)) in fields.iter().enumerate() {
        let comma = if n + 1 < fields.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "{:indent$}{}: {value}{comma}",
            "",
            json_string(key),
            indent = outer + step
        );
    }
    let _ = writeln!(out, "{:outer$}}}", "");
}

/// The environment variables as a YAML block mapping indented by two spaces. Values are
/// double-quoted: a JSON string is a YAML double-quoted scalar, so nothing in a value can
/// turn into YAML syntax, and `"0123"` stays a string.
fn yaml_mapping(out: &mut String, credentials: &Credentials) {
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "  {variable}: {}", json_string(value));
    }
}

/// A Kubernetes object name (an RFC 1123 subdomain) made from `name`.
fn kubernetes_name(name: &str) -> String {
    let lowered: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .take(253)
        .collect();
    let trimmed = lowered.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "aws-credentials".to_owned()
    } else {
        trimmed.to_owned()
    }
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
pub(crate) fn shell_quote(value: &str) -> String {
    if plain(value) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// A fish word for `value`: always single-quoted, where fish gives meaning to `\` and `'`
/// only (unquoted, fish would expand `{a,b}`, `~` and `$`).
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// A PowerShell verbatim string for `value`. PowerShell ends a single-quoted string at any of
/// the four single quotation marks (`'`, `‘`, `’`, `‚`, `‛`), and doubling one escapes it.
fn powershell_quote(value: &str) -> String {
    let mut quoted = String::from("'");
    for c in value.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            quoted.push(c);
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
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
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(literal, "\\u{:04x}", u32::from(c));
            }
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

/// `value` as an HCL quoted string: JSON's escapes, plus `$${` and `%%{`, which stop HCL
/// reading a template interpolation or directive.
fn hcl_string(value: &str) -> String {
    json_string(value).replace("${", "$${").replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG_TERM: Credentials<'static> = Credentials {
        access_key_id: "AKIARTX3GSDS5ZZ46JLN",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        expiration: None,
        region: "eu-west-1",
    };

    const SHORT_TERM: Credentials<'static> = Credentials {
        access_key_id: "ASIARTX3GSDS5ZZ46JLN",
        secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ=="),
        expiration: Some("2026-12-05T19:00:00Z"),
        region: "us-east-1",
    };

    #[test]
    fn profiles_are_written_as_aws_configure_writes_them() {
        assert_eq!(
            render(Format::CredentialsProfile, &LONG_TERM, "billing-admin"),
            "[billing-admin]\n\
             aws_access_key_id = AKIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        );
        assert_eq!(
            render(Format::CredentialsProfile, &SHORT_TERM, "ops-deploy"),
            "[ops-deploy]\n\
             aws_access_key_id = ASIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\
             aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\n"
        );
        assert_eq!(
            render(Format::ConfigProfile, &SHORT_TERM, "ops-deploy"),
            "[profile ops-deploy]\nregion = us-east-1\noutput = json\n"
        );
        assert_eq!(
            render(Format::ConfigProfile, &SHORT_TERM, "default"),
            "[default]\nregion = us-east-1\noutput = json\n"
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
    fn fish_and_powershell_quote_every_value() {
        assert_eq!(fish_quote(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(powershell_quote("it's ‘x’"), "'it''s ‘‘x’’'");
        let text = render(Format::PowerShell, &LONG_TERM, "x");
        assert!(text.starts_with("$Env:AWS_ACCESS_KEY_ID = 'AKIARTX3GSDS5ZZ46JLN'\n"));
        let text = render(Format::Fish, &LONG_TERM, "x");
        assert!(text.starts_with("set -gx AWS_ACCESS_KEY_ID 'AKIARTX3GSDS5ZZ46JLN'\n"));
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
    fn json_documents_take_the_shapes_of_their_tools() {
        assert_eq!(
            render(Format::Json, &LONG_TERM, "x"),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIARTX3GSDS5ZZ46JLN\",\n  \
             \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n}\n"
        );
        assert_eq!(
            render(Format::StsJson, &SHORT_TERM, "x"),
            "{\n    \"Credentials\": {\n        \"AccessKeyId\": \"ASIARTX3GSDS5ZZ46JLN\",\n        \
             \"SecretAccessKey\": \"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\",\n        \
             \"SessionToken\": \"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\",\n        \
             \"Expiration\": \"2026-12-05T19:00:00Z\"\n    }\n}\n"
        );
        assert_eq!(json_string("a\"\\\n\u{1}"), r#""a\"\\\n\u0001""#);
    }

    #[test]
    fn yaml_and_hcl_values_cannot_escape_their_strings() {
        let odd = Credentials {
            region: "x\"\n${path.root}%{if}: [",
            ..LONG_TERM
        };
        let text = render(Format::Terraform, &odd, "x");
        assert!(
            text.ends_with("aws_region = \"x\\\"\\n$${path.root}%%{if}: [\"\n"),
            "{text}"
        );
        let text = render(Format::GitLabCi, &odd, "x");
        assert!(text.contains("  AWS_REGION: \"x\\\"\\n${path.root}%{if}: [\"\n"));
    }

    #[test]
    fn kubernetes_names_are_rfc_1123_subdomains() {
        assert_eq!(kubernetes_name("Billing_Admin"), "billing-admin");
        assert_eq!(kubernetes_name("--x--"), "x");
        assert_eq!(kubernetes_name("@@"), "aws-credentials");
        assert!(render(Format::Kubernetes, &LONG_TERM, "ops.Deploy")
            .contains("metadata:\n  name: ops.deploy\n"));
    }

    #[test]
    fn format_ids_read_back_and_unknown_ones_name_the_choices() {
        for format in Format::ALL {
            assert_eq!(format.id().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.id());
            assert!(!format.title().is_empty());
            assert!(!format.file_name().is_empty());
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
