//! The `env:` block of a GitHub Actions workflow.

use super::text::yaml_mapping;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "github-actions",
    title: "GitHub Actions env",
    file_name: "workflow-env.yml",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut out = String::from("env:\n");
    yaml_mapping(&mut out, credentials);
    out
}
