//! `set -gx VAR 'value'` lines for fish.

use std::fmt::Write;

use super::text::environment;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "fish",
    title: "fish",
    file_name: "aws.fish",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::new();
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "set -gx {variable} {}", fish_quote(value));
    }
    out
}

/// A fish word for `value`: always single-quoted, where fish gives meaning to `\` and `'`
/// only (unquoted, fish would expand `{a,b}`, `~` and `$`).
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn every_value_is_single_quoted() {
        assert_eq!(fish_quote(r"a'b\c"), r"'a\'b\\c'");
        assert!(render(&LONG_TERM, "x")
            .starts_with("set -gx AWS_ACCESS_KEY_ID 'AKIARTX3GSDS5ZZ46JLN'\n"));
    }
}
