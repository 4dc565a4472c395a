//! `VAR=value` lines of a `.env` file.

use std::fmt::Write;

use super::text::{environment, plain};
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "dotenv",
    title: ".env file",
    file_name: ".env",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::new();
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "{variable}={}", dotenv_quote(value));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn lines_have_no_export_and_quote_only_when_needed() {
        assert_eq!(
            render(&LONG_TERM, "x"),
            "AWS_ACCESS_KEY_ID=AKIARTX3GSDS5ZZ46JLN\n\
             AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
             AWS_DEFAULT_REGION=eu-west-1\n\
             AWS_REGION=eu-west-1\n"
        );
        assert_eq!(dotenv_quote("a b#c"), "'a b#c'");
        assert_eq!(dotenv_quote("it's \"$x\"\n"), r#""it's \"\$x\"\n""#);
    }
}
