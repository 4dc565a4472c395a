//! A named profile of the AWS shared credentials file: the keys, as `aws configure` writes
//! them.

use std::fmt::Write;

use super::text::profile_keys;
use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "credentials-profile",
    title: "~/.aws/credentials profile",
    file_name: "credentials",
    render,
};

fn render(credentials: &Credentials, name: &str) -> String {
    let mut out = format!("[{name}]\n");
    for (key, value) in profile_keys(credentials) {
        let _ = writeln!(out, "{key} = {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{LONG_TERM, SHORT_TERM};
    use super::*;

    #[test]
    fn the_keys_are_written_as_aws_configure_writes_them() {
        assert_eq!(
            render(&LONG_TERM, "billing-admin"),
            "[billing-admin]\n\
             aws_access_key_id = AKIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        );
        assert_eq!(
            render(&SHORT_TERM, "ops-deploy"),
            "[ops-deploy]\n\
             aws_access_key_id = ASIARTX3GSDS5ZZ46JLN\n\
             aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\
             aws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ==\n"
        );
    }
}
