//! The rendered formats read back by the tools that consume them: the AWS CLI's own parser for
//! the profiles and the credential_process JSON, sh, bash, zsh and fish for the exports, PyYAML for
//! the Kubernetes and CI snippets, python-hcl2 for `.tfvars`, python-dotenv for `.env`, and a
//! JSON parser for the JSON documents. (PowerShell has no parser on this machine; its
//! quoting is checked by the unit tests.)

use std::path::Path;
use std::process::{Command, Output};

use placement::{render, Credentials, Format};

/// The format of `id`.
fn format(id: &str) -> Format {
    id.parse().unwrap()
}

const SHORT_TERM: Credentials<'static> = Credentials {
    access_key_id: "ASIARTX3GSDS5ZZ46JLN",
    secret_access_key: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    session_token: Some("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMQ=="),
    // Far ahead: the AWS CLI refuses credentials that have run out, so a date near the
    // present makes the test fail once it passes.
    expiration: Some("2099-12-05T19:00:00Z"),
    region: "eu-west-1",
};

/// Values no format may let out of its quotes.
const HOSTILE: Credentials<'static> = Credentials {
    region: "it's \"$HOME\" ${x} %{y} `z` \\ ‘q’: #c [a] {b,c} ~ $(id)",
    ..SHORT_TERM
};

/// The environment variables a format should carry for `credentials`.
fn expected_environment(credentials: &Credentials) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("AWS_ACCESS_KEY_ID".into(), credentials.access_key_id.into());
    map.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        credentials.secret_access_key.into(),
    );
    if let Some(token) = credentials.session_token {
        map.insert("AWS_SESSION_TOKEN".into(), token.into());
    }
    map.insert("AWS_DEFAULT_REGION".into(), credentials.region.into());
    map.insert("AWS_REGION".into(), credentials.region.into());
    serde_json::Value::Object(map)
}

fn python() -> std::ffi::OsString {
    std::env::var_os("TRIPKEY_TEST_PYTHON").unwrap_or_else(|| {
        panic!(
            "TRIPKEY_TEST_PYTHON is unset: run through scripts/test, which installs its packages"
        )
    })
}

/// What `read_placement.py` finds in `format` rendered for `credentials`.
fn read_with_python(format: Format, credentials: &Credentials, name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format.file_name());
    std::fs::write(&path, render(format, credentials, name)).unwrap();
    let output = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_placement.py"))
        .arg(format.id())
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

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
        expiration: None,
        region: "us-east-1",
    };
    // Two profiles in each file, the second appended after a blank line as a planter would.
    let text = format!(
        "{}\n{}",
        render(format("credentials-profile"), &long_term, "billing-admin"),
        render(format("credentials-profile"), &SHORT_TERM, "ops-deploy")
    );
    std::fs::write(home.path().join("credentials"), text).unwrap();
    let text = format!(
        "{}\n{}",
        render(format("config-profile"), &long_term, "billing-admin"),
        render(format("config-profile"), &SHORT_TERM, "ops-deploy")
    );
    std::fs::write(home.path().join("config"), text).unwrap();

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
    assert_eq!(aws_get(home.path(), "region", "billing-admin"), "us-east-1");
    assert_eq!(aws_get(home.path(), "output", "ops-deploy"), "json");
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
    std::fs::write(&document, render(format("json"), &SHORT_TERM, "unused")).unwrap();
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

/// The variables `shell` sees after sourcing `format`, one per line.
fn sourced(shell: &str, format: Format, credentials: &Credentials) -> String {
    let home = tempfile::tempdir().unwrap();
    let exports = home.path().join(format.file_name());
    std::fs::write(&exports, render(format, credentials, "unused")).unwrap();
    let script = match shell {
        "fish" => {
            "source $argv[1]; and printf '%s\\n' $AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY \
                   $AWS_SESSION_TOKEN $AWS_DEFAULT_REGION $AWS_REGION"
        }
        _ => {
            ". \"$1\" && printf '%s\\n' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \
             \"$AWS_SESSION_TOKEN\" \"$AWS_DEFAULT_REGION\" \"$AWS_REGION\""
        }
    };
    let mut command = Command::new(shell);
    command.arg("-c").arg(script);
    if shell != "fish" {
        command.arg(shell);
    }
    let output = command
        .arg(&exports)
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap_or_else(|error| panic!("{shell}: {error} (scripts/test installs fish and zsh)"));
    assert!(output.status.success(), "{shell}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn shells_sourcing_the_exports_see_the_exact_values() {
    let expected = format!(
        "{}\n{}\n{}\n{}\n{}\n",
        HOSTILE.access_key_id,
        HOSTILE.secret_access_key,
        HOSTILE.session_token.unwrap(),
        HOSTILE.region,
        HOSTILE.region
    );
    assert_eq!(sourced("sh", format("env"), &HOSTILE), expected);
    assert_eq!(sourced("bash", format("env"), &HOSTILE), expected);
    assert_eq!(sourced("zsh", format("env"), &HOSTILE), expected);
    assert_eq!(sourced("fish", format("fish"), &HOSTILE), expected);
}

#[test]
fn yaml_hcl_and_dotenv_readers_find_the_exact_values() {
    let expected = expected_environment(&HOSTILE);
    for format in [format("github-actions"), format("gitlab-ci")] {
        assert_eq!(
            read_with_python(format, &HOSTILE, "x"),
            expected,
            "{format}"
        );
    }
    // A .env value is single-quoted (taken literally) unless it holds `'`, and then
    // double-quoted: the two cases, apart. No value here holds `${`, which python-dotenv
    // expands even in single quotes (no key, secret, token or region holds it).
    for region in ["it\"s $HOME `z` \\ #c ‘q’", "it's \"q\" \\ #c"] {
        let odd = Credentials {
            region,
            ..SHORT_TERM
        };
        assert_eq!(
            read_with_python(format("dotenv"), &odd, "x"),
            expected_environment(&odd),
            "{region}"
        );
    }
    let mut manifest = expected.clone();
    manifest["metadata.name"] = "ops-deploy".into();
    assert_eq!(
        read_with_python(format("kubernetes"), &HOSTILE, "Ops_Deploy"),
        manifest
    );
    let mut tfvars = expected;
    tfvars.as_object_mut().unwrap().remove("AWS_REGION");
    assert_eq!(read_with_python(format("terraform"), &HOSTILE, "x"), tfvars);
}

#[test]
fn json_documents_parse_into_their_tools_shapes() {
    let sts: serde_json::Value =
        serde_json::from_str(&render(format("sts-json"), &HOSTILE, "x")).unwrap();
    assert_eq!(
        sts,
        serde_json::json!({"Credentials": {
            "AccessKeyId": HOSTILE.access_key_id,
            "SecretAccessKey": HOSTILE.secret_access_key,
            "SessionToken": HOSTILE.session_token,
            "Expiration": HOSTILE.expiration,
        }})
    );
    let secret: serde_json::Value =
        serde_json::from_str(&render(format("secrets-manager"), &HOSTILE, "x")).unwrap();
    assert_eq!(secret, expected_environment(&HOSTILE));
    let process: serde_json::Value =
        serde_json::from_str(&render(format("json"), &HOSTILE, "x")).unwrap();
    assert_eq!(process["Version"], 1);
    assert_eq!(process["SessionToken"], HOSTILE.session_token.unwrap());
}
