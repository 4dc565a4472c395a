//! The JSON `aws sts get-session-token` prints.

use super::text::{json_object, sts_fields};
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "sts-json",
    title: "JSON (aws sts get-session-token)",
    file_name: "session-token.json",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    // The AWS CLI indents its JSON by four spaces.
    let credentials = json_object(&sts_fields(credentials), 4, 4);
    format!("{{\n    \"Credentials\": {credentials}}}\n")
}

#[cfg(test)]
mod tests {
    use super::super::tests::SHORT_TERM;
    use super::*;

    #[test]
    fn it_takes_the_aws_clis_shape_and_indentation() {
        assert_eq!(
            render(&SHORT_TERM, "x"),
            "{\n    \"Credentials\": {\n        \"AccessKeyId\": \"ASIARTX3GSDS5ZZ46JLN\",\n        \
             \"SecretAccessKey\": \"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\",\n        \
             \"SessionToken\": \"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\",\n        \
             \"Expiration\": \"2026-12-05T19:00:00Z\"\n    }\n}\n"
        );
    }
}
