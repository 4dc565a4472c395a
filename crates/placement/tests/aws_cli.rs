//! The rendered formats read back by the tools that consume them: the AWS CLI's own parser for
//! the credentials profile and the credential_process JSON, and a POSIX shell for the exports.

use std::path::Path;
use std::process::{Command, Output};

use placement::{render, Credentials, Format};

const SHORT_TERM: Credentials<'static> = Credentials {
    access_key_id: "ASIARTX3GSDS5ZZ46JLN",
    secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ=="),
    region: "eu-west-1",
};

fn aws_cli() -> std::ffi::OsString {
    std::env::var_os("TRIPKEY_TEST_AWS_CLI").unwrap_or_else(|| {
        panic!(
            "TRIPKEY_TEST_AWS_CLI is unset: run through scripts/test, which installs the AWS CLI"
        )
    })
}

fn run_aws(home: &Path, args: &[&str]) -> Output {
    let output = Command::new(aws_cli())
        .args(args)
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn aws_get(home: &Path, key: &str, profile: &str) -> String {
    let output = run_aws(home, &["configure", "get", key, "--profile", profile]);
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_aws_cli_reads_every_value_of_a_rendered_profile() {
    let home = tempfile::tempdir().unwrap();
    let long_term = Credentials {
        access_key_id: "AKIARTX3GSDS5ZZ46JLN",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
        region: "us-east-1",
    };
    // Two profiles in one file, the second appended after a blank line as a planter would.
    let text = format!(
        "{}\n{}",
        render(Format::CredentialsProfile, &long_term, "billing-admin"),
        render(Format::CredentialsProfile, &SHORT_TERM, "ops-deploy")
    );
    std::fs::write(home.path().join("credentials"), text).unwrap();

    assert_eq!(
        aws_get(home.path(), "aws_access_key_id", "billing-admin"),
        "AKIARTX3GSDS5ZZ46JLN"
    );
    assert_eq!(
        aws_get(home.path(), "aws_secret_access_key", "billing-admin"),
        long_term.secret_access_key
    );
    assert_eq!(
        aws_get(home.path(), "aws_access_key_id", "ops-deploy"),
        "ASIARTX3GSDS5ZZ46JLN"
    );
    assert_eq!(
        aws_get(home.path(), "aws_session_token", "ops-deploy"),
        SHORT_TERM.session_token.unwrap()
    );
    // The region in the credentials file is one botocore merges into the profile.
    let listed = run_aws(
        home.path(),
        &["configure", "list", "--profile", "ops-deploy"],
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("eu-west-1"), "{listed}");
    assert!(listed.contains("shared-credentials-file"), "{listed}");
}

#[test]
fn the_aws_cli_takes_the_json_from_a_credential_process() {
    let home = tempfile::tempdir().unwrap();
    let document = home.path().join("canary.json");
    std::fs::write(&document, render(Format::Json, &SHORT_TERM, "unused")).unwrap();
    std::fs::write(home.path().join("credentials"), "").unwrap();
    std::fs::write(
        home.path().join("config"),
        format!(
            "[profile from-process]\ncredential_process = cat {}\n",
            document.display()
        ),
    )
    .unwrap();
    // `configure list` resolves the credentials, so it runs the process and parses its JSON;
    // it shows the key's last four characters.
    let listed = run_aws(
        home.path(),
        &["configure", "list", "--profile", "from-process"],
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("JLN") && listed.contains("custom-process"),
        "{listed}"
    );
}

#[test]
fn a_shell_sourcing_the_exports_sees_the_exact_values() {
    let home = tempfile::tempdir().unwrap();
    let odd = Credentials {
        region: "it's $HOME; `x`",
        ..SHORT_TERM
    };
    let exports = home.path().join("canary.env");
    std::fs::write(&exports, render(Format::EnvExports, &odd, "unused")).unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(
            ". \"$1\" && printf '%s\\n' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \
             \"$AWS_SESSION_TOKEN\" \"$AWS_REGION\"",
        )
        .arg("sh")
        .arg(&exports)
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "{}\n{}\n{}\n{}\n",
            odd.access_key_id,
            odd.secret_access_key,
            odd.session_token.unwrap(),
            odd.region
        )
    );
}
