//! A Terraform `.tfvars` file.

use std::fmt::Write;

use super::text::json_string;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "terraform",
    title: "Terraform .tfvars",
    file_name: "terraform.tfvars",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::new();
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
    out
}

/// `value` as an HCL quoted string: JSON's escapes, plus `$${` and `%%{`, which stop HCL
/// reading a template interpolation or directive.
fn hcl_string(value: &str) -> String {
    json_string(value).replace("${", "$${").replace("%{", "%%{")
}

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn values_cannot_escape_their_strings() {
        let odd = Credentials {
            region: "x\"\n${path.root}%{if}: [",
            ..LONG_TERM
        };
        let text = render(&odd, "x");
        assert!(
            text.ends_with("aws_region = \"x\\\"\\n$${path.root}%%{if}: [\"\n"),
            "{text}"
        );
    }
}
