//! The AWS config file's profile matching a planted credentials profile: region and output.

use super::{Credentials, Spec};

pub(super) const SPEC: Spec = Spec {
    id: "config-profile",
    title: "~/.aws/config profile",
    file_name: "config",
    render,
};

fn render(credentials: &Credentials, name: &str) -> String {
    // The config file names every profile but `default` with a `profile ` prefix.
    let header = if name == "default" {
        "[default]".to_owned()
    } else {
        format!("[profile {name}]")
    };
    format!("{header}\nregion = {}\noutput = json\n", credentials.region)
}

#[cfg(test)]
mod tests {
    use super::super::tests::SHORT_TERM;
    use super::*;

    #[test]
    fn default_has_no_profile_prefix() {
        assert_eq!(
            render(&SHORT_TERM, "ops-deploy"),
            "[profile ops-deploy]\nregion = us-east-1\noutput = json\n"
        );
        assert_eq!(
            render(&SHORT_TERM, "default"),
            "[default]\nregion = us-east-1\noutput = json\n"
        );
    }
}
