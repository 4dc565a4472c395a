//! A Kubernetes `Secret` manifest holding the environment variables.

use super::text::yaml_mapping;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "kubernetes",
    title: "Kubernetes Secret",
    file_name: "secret.yaml",
    render,
};

fn render(credentials: &Credentials, name: &str) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\ntype: Opaque\nstringData:\n",
        kubernetes_name(name)
    );
    yaml_mapping(&mut out, credentials);
    out
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

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn names_are_rfc_1123_subdomains() {
        assert_eq!(kubernetes_name("Billing_Admin"), "billing-admin");
        assert_eq!(kubernetes_name("--x--"), "x");
        assert_eq!(kubernetes_name("@@"), "aws-credentials");
        assert!(render(&LONG_TERM, "ops.Deploy").contains("metadata:\n  name: ops.deploy\n"));
    }
}
