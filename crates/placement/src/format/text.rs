//! What several formats share: the variables and fields they name, and JSON and YAML text.

use std::fmt::Write;

use super::Credentials;

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
pub(super) fn environment<'a>(credentials: &Credentials<'a>) -> Vec<(&'static str, &'a str)> {
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

/// The fields STS names credentials by, in the order it prints them, as JSON literals.
pub(super) fn sts_fields(credentials: &Credentials) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("AccessKeyId", json_string(credentials.access_key_id)),
        (
            "SecretAccessKey",
            json_string(credentials.secret_access_key),
        ),
    ];
    if let Some(token) = credentials.session_token {
        fields.push(("SessionToken", json_string(token)));
    }
    if let Some(expiration) = credentials.expiration {
        fields.push(("Expiration", json_string(expiration)));
    }
    fields
}

/// A JSON object of already-encoded values, its members indented by `outer + step` spaces
/// and its closing brace by `outer`, then a line break.
pub(super) fn json_object(fields: &[(&str, String)], step: usize, outer: usize) -> String {
    let mut out = String::from("{\n");
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
    out
}

/// The environment variables as a YAML block mapping indented by two spaces. Values are
/// double-quoted: a JSON string is a YAML double-quoted scalar, so nothing in a value can
/// turn into YAML syntax, and `"0123"` stays a string.
pub(super) fn yaml_mapping(out: &mut String, credentials: &Credentials) {
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "  {variable}: {}", json_string(value));
    }
}

/// Characters a shell and a `.env` parser both take literally in an unquoted value. Keys,
/// secrets (`+`, `/`) and session tokens (`=`) stay unquoted, as people write them.
pub(super) fn plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.:,@%".contains(c))
}

/// `value` as a JSON string literal.
pub(super) fn json_string(value: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string("a\"\\\n\u{1}"), r#""a\"\\\n\u0001""#);
    }
}
