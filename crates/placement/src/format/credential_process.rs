//! The JSON document a `credential_process` prints.

use super::text::{json_object, sts_fields};
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "json",
    title: "JSON (credential_process)",
    file_name: "credentials.json",
    render,
};

fn render(credentials: &Credentials, _name: &str) -> String {
    let mut fields = vec![("Version", "1".to_owned())];
    fields.extend(sts_fields(credentials));
    json_object(&fields, 2, 0)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LONG_TERM, SHORT_TERM};
    use super::*;

    #[test]
    fn it_is_what_credential_process_prints() {
        assert_eq!(
            render(&LONG_TERM, "x"),
            "{\n  \"Version\": 1,\n  \"AccessKeyId\": \"AKIARTX3GSDS5ZZ46JLN\",\n  \
             \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"\n}\n"
        );
        assert!(render(&SHORT_TERM, "x").contains("\"Expiration\": \"2026-12-05T19:00:00Z\"\n}"));
    }
}
