//! `tripkey plant` and `unplant` end to end, against a running `serve` with the offline
//! issuer, in a temporary HOME whose AWS files hold real-looking profiles, comments, CRLF
//! line endings and no final line break: the AWS CLI and botocore read what was planted,
//! `--refresh` renews only what is near expiry, `unplant` gives back the files byte for byte,
//! and the placement appears and disappears on the server. Also: the refusals, and two
//! writers at once (two plants; plant and `aws configure set`).

use std::path::Path;
use std::process::Command;

mod common;
use common::planting::{canary, canary_count, json, start, stderr, CONFIG, CREDENTIALS};

#[test]
fn plant_refresh_and_unplant_leave_the_users_files_as_they_were() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());

    // A federation token (12 h) as a named profile.
    let first = json(&host.plant(&[
        "--kind",
        "federation",
        "--profile",
        "legacy-deploy",
        "--json",
    ]));
    let first_id = first["planting"]["canary_id"].as_str().unwrap().to_owned();
    let first_key = first["planting"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first["placement_pending"].is_null(), "{first}");
    let planted = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(
        planted.starts_with(CREDENTIALS),
        "no byte of the user's changes"
    );
    assert!(
        planted.ends_with("\r\n"),
        "the profile is written in the file's CRLF style: {planted:?}"
    );
    assert!(planted[CREDENTIALS.len()..].starts_with("\r\n\r\n[legacy-deploy]\r\n"));
    let config = std::fs::read_to_string(host.config()).unwrap();
    assert!(config.starts_with(CONFIG));
    assert!(config.ends_with("[profile legacy-deploy]\nregion = us-east-1\noutput = json\n"));

    // The AWS CLI and botocore read it, and the user's profiles as before.
    let listed = host.aws(&["configure", "list", "--profile", "legacy-deploy"]);
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(listed_text.contains(&first_key[16..]), "{listed_text}");
    assert!(
        listed_text.contains("shared-credentials-file"),
        "{listed_text}"
    );
    assert!(listed_text.contains("us-east-1"), "{listed_text}");
    let token = host.aws(&[
        "configure",
        "get",
        "aws_session_token",
        "--profile",
        "legacy-deploy",
    ]);
    assert!(!String::from_utf8_lossy(&token.stdout).trim().is_empty());
    let profiles = host.botocore_profiles();
    assert_eq!(
        profiles["credentials"]["prod-admin"]["aws_access_key_id"],
        "AKIAZ7Q3EXAMPLE5PROD"
    );
    assert_eq!(profiles["credentials"]["prod-admin"]["region"], "eu-west-1");
    assert_eq!(
        profiles["credentials"]["legacy-deploy"]["aws_access_key_id"],
        first_key.as_str()
    );
    assert_eq!(profiles["config"]["prod-admin"]["output"], "table");
    assert_eq!(profiles["credentials"].as_object().unwrap().len(), 3);

    // The placement is on the server, with where it is.
    let shown = canary(&host, &first_id);
    let placement = &shown["placements"][0];
    assert!(
        placement["path"]
            .as_str()
            .unwrap()
            .ends_with(".aws/credentials [legacy-deploy]"),
        "{shown}"
    );
    assert_eq!(placement["format"], "credentials-profile");
    assert_eq!(shown["canary"]["labels"]["os"], std::env::consts::OS);
    assert!(shown["canary"]["labels"]["location"]
        .as_str()
        .unwrap()
        .ends_with(".aws/credentials"));

    // Nothing is due: --refresh is silent and touches nothing.
    let before = std::fs::read(host.credentials()).unwrap();
    let quiet = host.run(&["plant", "--refresh"]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(
        quiet.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stdout)
    );
    assert_eq!(std::fs::read(host.credentials()).unwrap(), before);

    // A role session of an hour, with a name the server suggests.
    let second = json(&host.plant(&["--kind", "role-session", "--json"]));
    let profile = second["planting"]["target"]["profile"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_key = second["planting"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!["default", "prod-admin", "legacy-deploy"].contains(&profile.as_str()));
    assert!(std::fs::read_to_string(host.credentials())
        .unwrap()
        .starts_with(&planted));

    // --refresh (remembering the server and token, as a timer runs it) renews only it, in
    // place.
    let refreshed = json(&host.run(&["plant", "--refresh", "--json"]));
    let renewed = refreshed["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 1, "{refreshed}");
    let new_key = renewed[0]["access_key_id"].as_str().unwrap();
    assert_ne!(new_key, second_key);
    let text = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(text.starts_with(&planted), "the rest stays as it was");
    assert!(text.contains(&format!("[{profile}]\r\naws_access_key_id = {new_key}\r\n")));
    assert!(!text.contains(&second_key));
    let listed = host.aws(&[
        "configure",
        "get",
        "aws_access_key_id",
        "--profile",
        &profile,
    ]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), new_key);

    // Unplanting gives back both files byte for byte, and the server forgets the placements.
    let removed = json(&host.run(&["unplant", "--profile", "legacy-deploy", "--json"]));
    assert_eq!(removed["removed"].as_array().unwrap().len(), 1, "{removed}");
    assert!(canary(&host, &first_id)["placements"]
        .as_array()
        .unwrap()
        .is_empty());
    let removed = json(&host.run(&["unplant", "--all", "--json"]));
    assert_eq!(removed["removed"].as_array().unwrap().len(), 1, "{removed}");
    assert_eq!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        CREDENTIALS
    );
    assert_eq!(std::fs::read_to_string(host.config()).unwrap(), CONFIG);
    let listed = json(&host.run(&["plant", "--list", "--json"]));
    assert_eq!(listed["planted"].as_array().unwrap().len(), 0);
}

#[test]
fn the_users_profiles_and_unreadable_files_are_refused_before_anything_is_issued() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());

    for (args, says) in [
        (&["--profile", "prod-admin"][..], "never overwritten"),
        (&["--default"][..], "never overwritten"),
        (&["--profile", "bad name"][..], "profile name may hold"),
    ] {
        let refused = host.plant(args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&refused).contains(says),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    std::fs::write(
        host.credentials(),
        "[default]\naws_access_key_id = AKIA\nnot a key line\n",
    )
    .unwrap();
    let refused = host.plant(&[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("line 3"), "{}", stderr(&refused));
    assert_eq!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        "[default]\naws_access_key_id = AKIA\nnot a key line\n"
    );
    assert_eq!(
        canary_count(&host),
        0,
        "no canary is issued for a file that cannot take it"
    );
    let unknown = host.run(&["unplant", "--profile", "prod-admin"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("never removed"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_new_credentials_file_is_private_and_formats_go_to_new_files() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    std::fs::remove_dir_all(host.home.join(".aws")).unwrap();

    json(&host.plant(&["--json"]));
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&host.credentials()), 0o600);
    assert_eq!(mode(&host.home.join(".aws")), 0o700);

    let manifest = folder.path().join("k8s/secret.yaml");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    let planted = json(&host.plant(&[
        "--format",
        "kubernetes",
        "--output",
        manifest.to_str().unwrap(),
        "--json",
    ]));
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.starts_with("apiVersion: v1\nkind: Secret\n"), "{text}");
    assert!(text.contains(planted["planting"]["access_key_id"].as_str().unwrap()));
    assert_eq!(mode(&manifest), 0o600);
    let again = host.plant(&[
        "--format",
        "kubernetes",
        "--output",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is not replaced"
    );
    json(&host.run(&["unplant", "--output", manifest.to_str().unwrap(), "--json"]));
    assert!(!manifest.exists());
}

#[test]
fn concurrent_writers_leave_one_valid_file_holding_every_profile() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let cli = std::env::var_os("TRIPKEY_TEST_AWS_CLI").unwrap();
    for round in 0..3 {
        // `aws configure set` spends about a second starting Python before its read, change
        // and in-place rewrite; plants start every 80 ms across that second, two at a time,
        // so that some of them write while it does.
        let racer = format!("racer-{round}");
        let mut configure = Command::new(&cli)
            .args([
                "configure",
                "set",
                "aws_access_key_id",
                "AKIAZ7Q3EXAMPLERACER",
            ])
            .args(["--profile", &racer])
            .env("HOME", &host.home)
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_CONFIG_FILE")
            .spawn()
            .unwrap();
        let mut planted = Vec::new();
        let mut plants = Vec::new();
        for step in 0..10 {
            for n in 0..2 {
                let name = format!("planted-{round}-{step}-{n}");
                plants.push(
                    host.command(&["plant", "--server", &host.server, "--token", &host.token])
                        .args(["--profile", &name, "--quiet"])
                        .spawn()
                        .unwrap(),
                );
                planted.push(name);
            }
            std::thread::sleep(std::time::Duration::from_millis(80));
        }
        assert!(configure.wait().unwrap().success());
        for plant in &mut plants {
            assert!(plant.wait().unwrap().success());
        }
        let profiles = host.botocore_profiles();
        let credentials = profiles["credentials"].as_object().unwrap();
        for name in ["default", "prod-admin", racer.as_str()]
            .into_iter()
            .chain(planted.iter().map(String::as_str))
        {
            assert!(
                credentials.contains_key(name),
                "round {round}: {name} is missing: {profiles}"
            );
        }
    }
    let text = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(text.starts_with(CREDENTIALS), "{text:?}");
}

#[test]
fn a_write_that_fails_half_way_leaves_the_file_intact_and_says_so() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    // A credentials file bigger than the file-size limit below: writing its new version
    // fails part way, as on a full disk.
    let big = format!("{CREDENTIALS}\r\n{}", "# padding\r\n".repeat(400));
    std::fs::write(host.credentials(), &big).unwrap();
    let limited = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_tripkey"))
        .args(["plant", "--server", &host.server, "--token", &host.token])
        .env("HOME", &host.home)
        .env("XDG_STATE_HOME", host.home.join(".local/state"))
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_CONFIG_FILE")
        .output()
        .unwrap();
    assert_eq!(limited.status.code(), Some(2), "{}", stderr(&limited));
    let message = stderr(&limited);
    assert!(message.contains("File too large"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(message.contains("issued but not planted"), "{message}");
    assert_eq!(std::fs::read_to_string(host.credentials()).unwrap(), big);
    let leftovers: Vec<_> = std::fs::read_dir(host.home.join(".aws"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "no temporary file is left: {leftovers:?}"
    );
}

#[test]
fn default_is_planted_only_where_absent_and_then_replaced_only_as_tripkeys_own() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let mine = "[prod-admin]\naws_access_key_id = AKIAZ7Q3EXAMPLE5PROD\n";
    std::fs::write(host.credentials(), mine).unwrap();

    let first = json(&host.plant(&["--default", "--json"]));
    assert_eq!(first["planting"]["target"]["profile"], "default");
    assert!(
        first["planting"]["target"]["config"].is_null(),
        "the user's [default] of the config file stays theirs: {first}"
    );
    assert_eq!(std::fs::read_to_string(host.config()).unwrap(), CONFIG);
    let key = first["planting"]["access_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(
        text.starts_with(mine) && text.contains(&format!("[default]\naws_access_key_id = {key}\n"))
    );

    // tripkey's own default is replaced in place by a new canary; the old placement goes.
    let second = json(&host.plant(&["--default", "--json"]));
    let new_key = second["planting"]["access_key_id"].as_str().unwrap();
    assert_ne!(new_key, key);
    let text = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(
        text.contains(&format!("[default]\naws_access_key_id = {new_key}\n"))
            && !text.contains(&key)
    );
    let listed = json(&host.run(&["plant", "--list", "--json"]));
    assert_eq!(listed["planted"].as_array().unwrap().len(), 1, "{listed}");
    let old = first["planting"]["canary_id"].as_str().unwrap();
    assert!(canary(&host, old)["placements"]
        .as_array()
        .unwrap()
        .is_empty());

    // Once the user has changed it, it is theirs.
    std::fs::write(
        host.credentials(),
        text.replace(new_key, "AKIAZ7Q3EXAMPLEMINE0"),
    )
    .unwrap();
    let refused = host.plant(&["--default"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("changed"), "{}", stderr(&refused));
    let left = host.run(&["unplant", "--all", "--json"]);
    assert_eq!(
        left.status.code(),
        Some(1),
        "a changed profile is not taken out"
    );
    assert!(std::fs::read_to_string(host.credentials())
        .unwrap()
        .contains("AKIAZ7Q3EXAMPLEMINE0"));
}
