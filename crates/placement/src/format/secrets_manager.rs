//! A Secrets Manager secret value: a JSON object of the environment variables, the shape ECS
//! and Lambda map into a task's environment.

use super::text::{environment, json_object, json_string};
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "secrets-manager",
    title: "Secrets Manager secret value",
    file_name: "secret.json",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let fields: Vec<_> = environment(credentials)
        .into_iter()
        .map(|(key, value)| (key, json_string(value)))
        .collect();
    json_object(&fields, 2, 0)
}

#[cfg(test)]
mod tests {
    use super::super::tests::LONG_TERM;
    use super::*;

    #[test]
    fn the_keys_are_the_environment_variables() {
        let text = render(&LONG_TERM, "x");
        assert!(
            text.starts_with("{\n  \"AWS_ACCESS_KEY_ID\": \"AKIARTX3GSDS5ZZ46JLN\",\n"),
            "{text}"
        );
        assert!(
            text.ends_with("  \"AWS_REGION\": \"eu-west-1\"\n}\n"),
            "{text}"
        );
    }
}
