//! `$Env:VAR = 'value'` lines for PowerShell.

use std::fmt::Write;

use super::text::environment;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "powershell",
    title: "PowerShell",
    file_name: "aws.ps1",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::new();
    for (variable, value) in environment(credentials) {
        let _ = writeln!(out, "$Env:{variable} = {}", powershell_quote(value));
    }
    out
}

/// A PowerShell verbatim string for `value`. PowerShell ends a single-quoted string at any of
/// the five single quotation marks (`'`, `‘`, `’`, `‚`, `‛`), and doubling one escapes it.
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

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn every_single_quotation_mark_is_doubled() {
        assert_eq!(powershell_quote("it's ‘x’"), "'it''s ‘‘x’’'");
        assert!(render(&LONG_TERM, "x")
            .starts_with("$Env:AWS_ACCESS_KEY_ID = 'AKIARTX3GSDS5ZZ46JLN'\n"));
    }
}
