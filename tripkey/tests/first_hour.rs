//! What a new user meets in their first hour: nothing created behind their back, one output
//! convention, honest exit codes, output that is safe to append, help that teaches, and
//! errors written as sentences. Each test is named after what it proves.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

/// `tripkey ARGS` in a home of its own, with no configuration from the environment.
fn tripkey_in(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_CANARIES")
        .env_remove("NO_COLOR")
        .output()
        .expect("tripkey runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn expect_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}\n{}", stdout(output), stderr(output)))
}

/// Every file under `folder`, relative.
fn files_under(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path.strip_prefix(folder).unwrap().display().to_string());
        }
    }
    found
}

/// A trail file with one canary call whose identity has no ARN, only an access key.
fn trail_file(folder: &Path, key: &str) -> String {
    let record = json!({
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5", "userAgent": "aws-cli/2",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "accessKeyId": key},
        "eventID": "e-1"
    });
    let path = folder.join("trail.json");
    std::fs::write(&path, json!({ "Records": [record] }).to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn reading_commands_in_an_empty_home_create_nothing_and_say_where_they_looked() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["status"],
        vec!["canary", "list"],
        vec!["canary", "show", "anything"],
        vec!["alert", "list"],
        vec!["token", "list"],
    ] {
        let output = tripkey_in(home.path(), &args);
        expect_status(&output, 2);
        let message = stderr(&output);
        assert!(
            message.contains("no tripkey database at")
                && message.contains(".local/share/tripkey/tripkey.db")
                && message.contains("tripkey canary create"),
            "{args:?}: {message}"
        );
    }
    let check = tripkey_in(home.path(), &["serve", "--check"]);
    expect_status(&check, 0);
    assert!(
        stdout(&check).contains("not there yet; serve will create it"),
        "{}",
        stdout(&check)
    );
    assert_eq!(files_under(home.path()), Vec::<String>::new());
}

#[test]
fn every_data_command_parses_its_own_format_json() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let created = tripkey_in(
        home,
        &[
            "canary",
            "create",
            "--offline-account",
            "111122223333",
            "--name",
            "ops-reporting",
            "--format",
            "json",
        ],
    );
    expect_status(&created, 0);
    let created = json(&created);
    assert!(created["credentials"]["secret_access_key"].is_string());
    let key = created["canary"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trail = trail_file(home, &key);
    let token = tripkey_in(home, &["token", "create", "forwarder"]);
    expect_status(&token, 0);

    let documents: Vec<(Vec<&str>, &str)> = vec![
        (vec!["canary", "list", "--format", "json"], "canaries"),
        (
            vec!["canary", "show", "ops-reporting", "--format", "json"],
            "canary",
        ),
        (
            vec!["canary", "check", "ops-reporting", "--format", "json"],
            "checks",
        ),
        (vec!["canary", "capacity", "--format", "json"], "accounts"),
        (vec!["key", "decode", &key, "--format", "json"], "keys"),
        (vec!["token", "list", "--format", "json"], "tokens"),
        (vec!["audit", "--format", "json"], "entries"),
        (vec!["alert", "list", "--format", "json"], "alerts"),
        (
            vec!["status", "--format", "json", "--url", "http://127.0.0.1:1"],
            "sinks",
        ),
        (vec!["scan", &trail, "--format", "json"], "alerts"),
    ];
    for (args, field) in documents {
        let output = tripkey_in(home, &args);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            stderr(&output)
        );
        let document = json(&output);
        assert!(
            !document[field].is_null(),
            "{args:?} has no {field}: {document}"
        );
    }
    let scan = json(&tripkey_in(home, &["scan", &trail, "--format", "json"]));
    assert_eq!(scan["alerts"][0]["rule"], "canary-use", "{scan}");
    assert_eq!(scan["summary"]["canaries"], 1, "{scan}");

    let lines = tripkey_in(home, &["scan", &trail, "--format", "jsonl"]);
    for line in stdout(&lines).lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

#[test]
fn scan_of_a_non_cloudtrail_file_exits_3() {
    let home = tempfile::tempdir().unwrap();
    let notes = home.path().join("notes.json");
    std::fs::write(&notes, "{\"todo\": [\"buy milk\"]}\n").unwrap();
    let output = tripkey_in(home.path(), &["scan", notes.to_str().unwrap()]);
    expect_status(&output, 3);
    assert!(
        stderr(&output).contains("no CloudTrail record could be read"),
        "{}",
        stderr(&output)
    );
    let empty = home.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    expect_status(
        &tripkey_in(home.path(), &["scan", empty.to_str().unwrap()]),
        3,
    );
}

#[test]
fn scan_says_when_canary_detection_is_off_and_uses_the_default_database_when_it_holds_canaries() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let trail = trail_file(home, "AKIAYVP4CIPPERUVIFXG");
    let off = tripkey_in(home, &["scan", &trail]);
    expect_status(&off, 0);
    assert!(
        stderr(&off).contains("canary detection is off") && stderr(&off).contains("--store"),
        "{}",
        stderr(&off)
    );
    assert!(stdout(&off).contains("Canaries: none loaded"));

    let created = tripkey_in(
        home,
        &[
            "canary",
            "create",
            "--offline-account",
            "111122223333",
            "--format",
            "json",
        ],
    );
    expect_status(&created, 0);
    let key = json(&created)["canary"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trail = trail_file(home, &key);
    let on = tripkey_in(home, &["scan", &trail]);
    expect_status(&on, 1);
    assert!(!stderr(&on).contains("canary detection is off"));
    assert!(
        stdout(&on).contains("Canaries: 1 looked for, from the canary database")
            && stdout(&on).contains("read by default"),
        "{}",
        stdout(&on)
    );
    expect_status(&tripkey_in(home, &["scan", "--no-store", &trail]), 0);
}

#[test]
fn the_scan_table_labels_a_bare_access_key_as_key_not_principal() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let created = tripkey_in(
        home,
        &[
            "canary",
            "create",
            "--offline-account",
            "111122223333",
            "--format",
            "json",
        ],
    );
    let key = json(&created)["canary"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trail = trail_file(home, &key);
    let table = stdout(&tripkey_in(home, &["scan", &trail]));
    assert!(!table.contains("principal"), "{table}");
    assert!(table.contains(&format!("key        {key}")), "{table}");
}

#[test]
fn counts_use_singular_and_plural() {
    let home = tempfile::tempdir().unwrap();
    let trail = trail_file(home.path(), "AKIAYVP4CIPPERUVIFXG");
    let text = stdout(&tripkey_in(home.path(), &["scan", &trail]));
    assert!(
        text.contains("Scanned 1 file ") && text.contains(": 1 record,"),
        "{text}"
    );
    assert!(
        !text.contains(": 1 records") && !text.contains("Scanned 1 files"),
        "{text}"
    );
}

#[test]
fn key_decode_says_key_ids_are_upper_case_and_goes_on_past_a_bad_one() {
    let home = tempfile::tempdir().unwrap();
    let output = tripkey_in(
        home.path(),
        &[
            "key",
            "decode",
            "akiayvp4cipperuvifxg",
            "AKIAYVP4CIPPERUVIFXG",
        ],
    );
    expect_status(&output, 2);
    assert!(
        stderr(&output).contains("key IDs are upper case; did you mean AKIAYVP4CIPPERUVIFXG?"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("account 595918472158"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn init_writes_a_config_that_passes_serve_check_and_never_overwrites() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    for (name, args) in [
        (
            "offline.toml",
            vec!["--offline", "--source", "dir", "--sink", "json-lines"],
        ),
        (
            "sqs.toml",
            vec!["--source", "sqs", "--sink", "slack", "--sink", "webhook"],
        ),
        (
            "all.toml",
            vec![
                "--source", "s3", "--source", "sqs", "--source", "dir", "--sink", "email",
                "--sink", "sns", "--sink", "webhook",
            ],
        ),
        (
            "chat.toml",
            vec![
                "--offline",
                "--source",
                "dir",
                "--sink",
                "teams",
                "--sink",
                "discord",
                "--sink",
                "google-chat",
                "--sink",
                "pagerduty",
            ],
        ),
    ] {
        let path = home.join(name);
        let mut all = vec!["init", "--output", path.to_str().unwrap()];
        all.extend(args);
        let written = tripkey_in(home, &all);
        expect_status(&written, 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} holds a generated signing secret");
        }
        let checked = tripkey_in(
            home,
            &["serve", "--config", path.to_str().unwrap(), "--check"],
        );
        expect_status(&checked, 0);
        assert!(
            stdout(&checked).starts_with("configuration ok"),
            "{}",
            stdout(&checked)
        );

        let before = std::fs::read(&path).unwrap();
        let again = tripkey_in(home, &["init", "--output", path.to_str().unwrap()]);
        expect_status(&again, 2);
        assert!(
            stderr(&again).contains("exists already"),
            "{}",
            stderr(&again)
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "left as it was");
    }
    let printed = tripkey_in(home, &["init", "--offline", "--output", "-"]);
    expect_status(&printed, 0);
    assert!(stdout(&printed).contains("offline_account = \"111122223333\""));
}

#[test]
fn serve_with_no_configuration_says_what_to_configure_next() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let text = reader.join().unwrap();
    assert!(
        text.contains("no configuration file") && text.contains("tripkey init"),
        "{text}"
    );
}

#[test]
fn canary_create_output_appended_to_a_credentials_file_still_parses_with_the_aws_cli() {
    let Some(aws) = std::env::var_os("TRIPKEY_TEST_AWS_CLI") else {
        panic!(
            "TRIPKEY_TEST_AWS_CLI is unset: run through scripts/test, which installs the AWS CLI"
        );
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let credentials = home.join("credentials");
    // A user's file: comments, other profiles, and no line break at the end.
    std::fs::write(
        &credentials,
        "# work accounts\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n[prod]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    )
    .unwrap();
    let mut profiles = Vec::new();
    for kind in ["iam-user", "federation"] {
        let created = tripkey_in(
            home,
            &[
                "canary",
                "create",
                "--offline-account",
                "111122223333",
                "--kind",
                kind,
            ],
        );
        expect_status(&created, 0);
        let text = stdout(&created);
        profiles.push(
            text.lines()
                .find_map(|line| line.strip_prefix('[')?.strip_suffix(']'))
                .unwrap()
                .to_owned(),
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&credentials)
            .unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    }
    let aws_cli = |args: &[&str]| {
        Command::new(&aws)
            .args(args)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", home.join("config"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap()
    };
    for profile in ["default", "prod"]
        .iter()
        .copied()
        .chain(profiles.iter().map(String::as_str))
    {
        // `configure list` loads the whole credentials file, so a file the AWS CLI cannot parse
        // fails here for every profile.
        let listed = aws_cli(&["configure", "list", "--profile", profile]);
        expect_status(&listed, 0);
        assert!(
            stdout(&listed).contains("shared-credentials-file"),
            "{}",
            stdout(&listed)
        );
    }
    for profile in &profiles {
        let key = aws_cli(&[
            "configure",
            "get",
            "aws_access_key_id",
            "--profile",
            profile,
        ]);
        expect_status(&key, 0);
        assert!(stdout(&key).starts_with("AKIA") || stdout(&key).starts_with("ASIA"));
    }
    let prod = aws_cli(&[
        "configure",
        "get",
        "aws_secret_access_key",
        "--profile",
        "prod",
    ]);
    assert_eq!(
        stdout(&prod).trim(),
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
    );
}

#[test]
fn every_command_help_ends_with_an_example() {
    let home = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["key"],
        &["canary"],
        &["setup"],
        &["alert"],
        &["token"],
        &["scan"],
        &["key", "decode"],
        &["canary", "create"],
        &["canary", "rotate"],
        &["canary", "revoke"],
        &["canary", "maintain"],
        &["canary", "poll"],
        &["canary", "list"],
        &["canary", "show"],
        &["canary", "check"],
        &["canary", "capacity"],
        &["setup", "aws"],
        &["serve"],
        &["status"],
        &["alert", "list"],
        &["alert", "test"],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["audit"],
        &["init"],
        &["completions"],
        &["man"],
        &["demo"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = tripkey_in(home.path(), &args);
        expect_status(&output, 0);
        let help = stdout(&output);
        let tail = help.trim_end().rsplit("Example").next().unwrap();
        assert!(
            help.contains("Example") && tail.contains("tripkey "),
            "{command:?} --help ends with no example:\n{help}"
        );
    }
    let canary = stdout(&tripkey_in(home.path(), &["canary", "--help"]));
    for subcommand in [
        "create", "rotate", "revoke", "maintain", "poll", "list", "show", "check", "capacity",
    ] {
        assert!(
            canary
                .lines()
                .any(|line| line.trim_start().starts_with(subcommand)),
            "{subcommand} missing from:\n{canary}"
        );
    }
    let test_help = stdout(&tripkey_in(home.path(), &["alert", "test", "--help"]));
    assert!(!test_help.contains("region for STS"), "{test_help}");
}

#[test]
fn completions_and_the_manual_page_are_generated() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = tripkey_in(home.path(), &["completions", shell]);
        expect_status(&output, 0);
        assert!(stdout(&output).contains("canary"), "{shell}");
    }
    // From a file: the script is past the 128 KiB one argument may hold.
    let bash = home.path().join("tripkey.bash");
    std::fs::write(
        &bash,
        stdout(&tripkey_in(home.path(), &["completions", "bash"])),
    )
    .unwrap();
    let checked = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    expect_status(&checked, 0);
    let man = tripkey_in(home.path(), &["man"]);
    expect_status(&man, 0);
    assert!(stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH tripkey"));
}

#[test]
fn colour_follows_no_color_and_the_color_flag() {
    let home = tempfile::tempdir().unwrap();
    let always = tripkey_in(home.path(), &["--color", "always", "scan", "--help"]);
    assert!(stdout(&always).contains('\u{1b}'), "--color always colours");
    let never = tripkey_in(home.path(), &["--color", "never", "scan", "--help"]);
    assert!(!stdout(&never).contains('\u{1b}'));
    let mistaken = tripkey_in(
        home.path(),
        &["--color", "always", "scan", "--no-such-flag"],
    );
    assert!(
        stderr(&mistaken).contains('\u{1b}'),
        "errors follow --color too"
    );
    let no_color = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["scan", "--no-such-flag"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stderr(&no_color).contains('\u{1b}'));
}

#[test]
fn a_bad_config_error_keeps_its_line_breaks() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("tripkey.toml");
    std::fs::write(&config, "[serve]\nlisten = 127.0.0.1\n").unwrap();
    let output = tripkey_in(
        home.path(),
        &["serve", "--config", config.to_str().unwrap(), "--check"],
    );
    expect_status(&output, 2);
    let message = stderr(&output);
    assert!(!message.contains("\\u{a}"), "{message}");
    assert!(message.lines().count() > 2, "{message}");
    assert!(message.contains("docs/configuration.md"), "{message}");
}
