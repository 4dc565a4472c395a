//! The planting recipes of docs/recipes and .github/actions, run as their CI system or MDM
//! would run them, against a running `serve`: the GitHub Actions composite action (its plant
//! and unplant steps, with GitHub's variables), the GitLab CI template (before_script and
//! after_script), the MDM script (download, checksum, install, plant, idempotent second run)
//! and the cloud-init snippet (its plant.toml, used as written but for the values to
//! replace).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::planting::{canary, json, start, stderr, Host, CREDENTIALS};

fn repository_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A YAML file as JSON, read by PyYAML (which the AWS CLI brings).
fn yaml(path: &Path) -> Value {
    let python = std::env::var_os("TRIPKEY_TEST_PYTHON")
        .expect("TRIPKEY_TEST_PYTHON is unset: run through scripts/test");
    let output = Command::new(python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(path)
        .output()
        .unwrap();
    json(&output)
}

/// A folder on PATH holding `tripkey`, as a runner would have it installed.
fn tripkey_on_path(folder: &Path) -> String {
    let bin = folder.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tripkey"), bin.join("tripkey")).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// The canary the host's credentials file now holds, by the plant state's record.
fn planted_canary(host: &Host, state: &Path) -> Value {
    let listed = json(
        &host
            .command(&[
                "plant",
                "--list",
                "--json",
                "--state-dir",
                state.to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    );
    let id = listed["planted"][0]["canary_id"]
        .as_str()
        .unwrap()
        .to_owned();
    canary(host, &id)
}

#[test]
fn the_github_action_plants_a_labelled_canary_per_job_and_takes_it_out() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let action = yaml(&repository_file(".github/actions/plant-canary/action.yml"));
    assert_eq!(action["runs"]["using"], "composite");
    let path = tripkey_on_path(folder.path());
    let runner_temp = folder.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let output_file = folder.path().join("github-output");

    let run_mode = |mode: &str, inputs: &[(&str, &str)]| {
        let defaults = action["inputs"].as_object().unwrap();
        let input = |name: &str| {
            inputs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
                .unwrap_or_else(|| defaults[name]["default"].as_str().unwrap().to_owned())
        };
        for step in action["runs"]["steps"].as_array().unwrap() {
            let condition = step["if"].as_str().unwrap();
            if condition != format!("inputs.mode == '{mode}'") {
                continue;
            }
            // GitHub's expression syntax, for the expressions the action uses.
            let expand = |text: &str| {
                let mut text = text.replace("${{ runner.temp }}", runner_temp.to_str().unwrap());
                for name in defaults.keys() {
                    text = text.replace(&format!("${{{{ inputs.{name} }}}}"), &input(name));
                }
                assert!(
                    !text.contains("${{"),
                    "an expression the test does not know: {text}"
                );
                text
            };
            let mut command = Command::new("bash");
            command
                .arg("-c")
                .arg(expand(step["run"].as_str().unwrap()))
                .env_clear()
                .env("PATH", &path)
                .env("HOME", &host.home)
                .env("XDG_STATE_HOME", host.home.join(".local/state"))
                .env("GITHUB_REPOSITORY", "acme/payments-api")
                .env("GITHUB_WORKFLOW", "ci")
                .env("GITHUB_RUN_ID", "9182736450")
                .env("GITHUB_JOB", "integration-tests")
                .env("GITHUB_OUTPUT", &output_file);
            for (name, value) in step["env"].as_object().unwrap() {
                command.env(name, expand(value.as_str().unwrap()));
            }
            let output = command.output().unwrap();
            assert!(output.status.success(), "{mode}: {}", stderr(&output));
        }
    };

    run_mode("plant", &[("server", &host.server), ("token", &host.token)]);
    let outputs = std::fs::read_to_string(&output_file).unwrap();
    let profile = outputs.trim().strip_prefix("profile=").unwrap().to_owned();
    let text = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(text.starts_with(CREDENTIALS));
    assert!(text.contains(&format!("[{profile}]")), "{text}");
    let shown = planted_canary(&host, &runner_temp.join("tripkey-plant"));
    let labels = &shown["canary"]["labels"];
    assert_eq!(labels["repository"], "acme/payments-api", "{shown}");
    assert_eq!(labels["workflow"], "ci");
    assert_eq!(labels["run_id"], "9182736450");
    assert_eq!(labels["job"], "integration-tests");
    assert_eq!(
        shown["canary"]["kind"], "federation",
        "short-term by default"
    );

    run_mode("unplant", &[]);
    assert_eq!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        CREDENTIALS
    );
    assert!(
        canary(&host, shown["canary"]["id"].as_str().unwrap())["placements"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_gitlab_template_plants_in_before_script_and_unplants_in_after_script() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let template = yaml(&repository_file("docs/recipes/gitlab-ci-canary.yml"));
    let job = &template[".tripkey-canary"];
    let path = tripkey_on_path(folder.path());
    let job_id = format!("77{}", std::process::id());
    let run = |section: &str| {
        // GitLab exports the job's variables (expanding references) before each script.
        let mut script = String::from("set -e\n");
        for (name, value) in job["variables"].as_object().unwrap() {
            script.push_str(&format!("export {name}=\"{}\"\n", value.as_str().unwrap()));
        }
        for line in job[section].as_array().unwrap() {
            script.push_str(line.as_str().unwrap());
            script.push('\n');
        }
        let output = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &host.home)
            .env("TRIPKEY_SERVER", &host.server)
            .env("TRIPKEY_TOKEN", &host.token)
            .env("CI_PROJECT_PATH", "acme/payments-api")
            .env("CI_PIPELINE_ID", "4401")
            .env("CI_JOB_NAME", "test")
            .env("CI_JOB_ID", &job_id)
            .output()
            .unwrap();
        assert!(output.status.success(), "{section}: {}", stderr(&output));
    };
    run("before_script");
    let state = PathBuf::from(format!("/tmp/tripkey-plant-{job_id}"));
    let shown = planted_canary(&host, &state);
    assert_eq!(shown["canary"]["labels"]["project"], "acme/payments-api");
    assert_eq!(shown["canary"]["labels"]["job"], format!("test/{job_id}"));
    assert_ne!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        CREDENTIALS
    );
    run("after_script");
    assert_eq!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        CREDENTIALS
    );
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn the_mdm_script_installs_a_checked_binary_plants_once_and_runs_again_harmlessly() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let binary = env!("CARGO_BIN_EXE_tripkey");
    let digest = Command::new("sha256sum").arg(binary).output().unwrap();
    let digest = String::from_utf8(digest.stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap().to_owned();
    let install_dir = folder.path().join("usr-local-bin");
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let run = |sha: &str| {
        Command::new("sh")
            .arg(repository_file("docs/recipes/mdm-plant.sh"))
            .env("TRIPKEY_SERVER", &host.server)
            .env("TRIPKEY_TOKEN", &host.token)
            .env("TRIPKEY_DOWNLOAD_URL", format!("file://{binary}"))
            .env("TRIPKEY_SHA256", sha)
            .env("TRIPKEY_INSTALL_DIR", &install_dir)
            .env("TRIPKEY_USER", user.trim())
            .env("TRIPKEY_HOME", &host.home)
            .env("TRIPKEY_INSTALL_TIMER", "0")
            .env("XDG_STATE_HOME", host.home.join(".local/state"))
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_CONFIG_FILE")
            .output()
            .unwrap()
    };
    let refused = run(&"0".repeat(64));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not installed"),
        "{}",
        stderr(&refused)
    );
    assert!(!install_dir.join("tripkey").exists());

    let first = run(&digest);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(install_dir.join("tripkey").exists());
    let planted = std::fs::read_to_string(host.credentials()).unwrap();
    assert!(planted.starts_with(CREDENTIALS) && planted.len() > CREDENTIALS.len());
    let second = run(&digest);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(String::from_utf8_lossy(&second.stdout).contains("already"));
    assert_eq!(
        std::fs::read_to_string(host.credentials()).unwrap(),
        planted
    );
    let shown = planted_canary(&host, &host.home.join(".local/state/tripkey"));
    assert_eq!(shown["canary"]["labels"]["managed_by"], "mdm");
    assert_eq!(shown["canary"]["kind"], "iam-user");
}

#[test]
fn the_cloud_init_snippet_is_cloud_config_whose_plant_toml_plants() {
    let folder = tempfile::tempdir().unwrap();
    let (_serve, host) = start(folder.path());
    let path = repository_file("docs/recipes/cloud-init.yaml");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("#cloud-config\n"));
    let document = yaml(&path);
    let file = &document["write_files"][0];
    assert_eq!(file["path"], "/etc/tripkey/plant.toml");
    assert_eq!(file["permissions"], "0600");
    let runcmd: Vec<&str> = document["runcmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    assert!(runcmd
        .iter()
        .any(|line| line.contains("plant --config /etc/tripkey/plant.toml")));
    assert!(runcmd.iter().any(|line| line.contains("--install-timer")));
    // The file as written, with the values to replace replaced.
    let state = folder.path().join("var-lib-tripkey");
    let config = file["content"]
        .as_str()
        .unwrap()
        .replace("https://tripkey.corp.example:8470", &host.server)
        .replace("tk_replace_with_an_issuer_token", &host.token)
        .replace("/var/lib/tripkey", state.to_str().unwrap());
    let config_path = folder.path().join("plant.toml");
    std::fs::write(&config_path, config).unwrap();
    let planted = host
        .command(&["plant", "--config", config_path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let planted = json(&planted);
    assert_eq!(planted["planting"]["kind"], "iam-user");
    let shown = planted_canary(&host, &state);
    assert_eq!(shown["canary"]["labels"]["role"], "web-server");
}
