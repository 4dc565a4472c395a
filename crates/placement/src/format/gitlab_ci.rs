//! The `variables:` block of a `.gitlab-ci.yml`.

use super::text::yaml_mapping;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "gitlab-ci",
    title: "GitLab CI variables",
    file_name: ".gitlab-ci.yml",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::from("variables:\n");
    yaml_mapping(&mut out, credentials);
    out
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
        assert!(render(&odd, "x").contains("  AWS_REGION: \"x\\\"\\n${path.root}%{if}: [\"\n"));
    }
}
