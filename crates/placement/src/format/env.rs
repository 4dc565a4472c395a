//! `export VAR=value` lines for sh, bash and zsh.

use std::fmt::Write;

use super::text::{environment, plain};
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "env",
    title: "Shell exports (sh, bash, zsh)",
    file_name: "aws.env.sh",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::new();
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "export {variable}={}", shell_quote(value));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::super::tests::{LONG_TERM, SHORT_TERM};
    use super::*;

    #[test]
    fn key_material_stays_unquoted_and_both_region_variables_are_named() {
        assert_eq!(
            render(&SHORT_TERM, "ignored"),
            "export AWS_ACCESS_KEY_ID=ASIARTX3GSDS5ZZ46JLN\n\
             export AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\
             export AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\n\
             export AWS_DEFAULT_REGION=us-east-1\n\
             export AWS_REGION=us-east-1\n"
        );
        assert!(!render(&LONG_TERM, "x").contains("AWS_SESSION_TOKEN"));
    }

    #[test]
    fn what_a_shell_would_interpret_is_quoted() {
        let odd = Credentials {
            region: "it's $HOME; rm -rf /",
            ..LONG_TERM
        };
        let text = render(&odd, "x");
        assert!(
            text.contains("export AWS_REGION='it'\\''s $HOME; rm -rf /'\n"),
            "{text}"
        );
        assert_eq!(shell_quote(""), "''");
    }
}
