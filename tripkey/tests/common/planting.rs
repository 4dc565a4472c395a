//! What the plant and recipe tests share: a `serve` with the offline issuer and an issuer
//! token, and a host with a temporary HOME whose AWS files hold the user's own profiles.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub use super::json;
use super::Serve;

pub const ACCOUNT: &str = "111122223333";
pub const ADMIN: &str = "tk_plant_test_admin_token_0123456789abcdefgh";

/// The user's own credentials file: CRLF, comments of both kinds, odd spacing, a blank line
/// with spaces, no final line break.
pub const CREDENTIALS: &str = "# work laptop, rotated 2026-11\r\n[default]\r\n\
    aws_access_key_id = AKIAZ7Q3EXAMPLE4WXYZ\r\n\
    aws_secret_access_key = 9dL2r8ExampleSecretKeyOfTheUser/+abcdEFGH\r\n\
    \r\n  \r\n; the old prod key, do not delete\r\n[prod-admin]\r\n\
    aws_access_key_id=AKIAZ7Q3EXAMPLE5PROD\r\n\
    aws_secret_access_key   =   aL1ceExampleSecretKeyOfProdAdmin0+/XYZw\r\n\
    region = eu-west-1";

pub const CONFIG: &str =
    "[default]\nregion = us-east-1\n\n[profile prod-admin]\nregion = eu-west-1\noutput = table\n";

pub fn tripkey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    for name in [
        "TRIPKEY_CONFIG",
        "TRIPKEY_DB",
        "TRIPKEY_DATABASE",
        "TRIPKEY_SERVER",
        "TRIPKEY_TOKEN",
        "TRIPKEY_PLANT_STATE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_PROFILE",
    ] {
        command.env_remove(name);
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

pub struct Host {
    pub home: PathBuf,
    pub server: String,
    pub token: String,
}

impl Host {
    pub fn credentials(&self) -> PathBuf {
        self.home.join(".aws/credentials")
    }

    pub fn config(&self) -> PathBuf {
        self.home.join(".aws/config")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = tripkey();
        command
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"));
        command
    }

    pub fn plant(&self, args: &[&str]) -> Output {
        self.command(&["plant", "--server", &self.server, "--token", &self.token])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn aws(&self, args: &[&str]) -> Output {
        let cli = std::env::var_os("TRIPKEY_TEST_AWS_CLI")
            .expect("TRIPKEY_TEST_AWS_CLI is unset: run through scripts/test");
        Command::new(cli)
            .args(args)
            .env("HOME", &self.home)
            .env_remove("AWS_SHARED_CREDENTIALS_FILE")
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .unwrap()
    }

    /// What botocore's own loader makes of the two files: every profile with its values.
    pub fn botocore_profiles(&self) -> Value {
        let cli = PathBuf::from(std::env::var_os("TRIPKEY_TEST_AWS_CLI").unwrap());
        let python = cli.with_file_name("python");
        let output = Command::new(python)
            .arg("-c")
            .arg(
                "import json, sys\n\
                 from botocore.configloader import raw_config_parse, load_config\n\
                 config = load_config(sys.argv[2])\n\
                 creds = raw_config_parse(sys.argv[1])\n\
                 print(json.dumps({'credentials': creds, 'config': config['profiles']}))",
            )
            .arg(self.credentials())
            .arg(self.config())
            .output()
            .unwrap();
        json(&output)
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A serve with the offline issuer (role sessions of 1 hour, so always due for refresh;
/// federation tokens of 12), and an issuer token made through its API.
pub fn start(folder: &Path) -> (Serve, Host) {
    let config = folder.join("tripkey.toml");
    std::fs::write(
        &config,
        format!(
            "[canary]\noffline_account = \"{ACCOUNT}\"\nrole_session_duration = \"1h\"\n\
             federation_duration = \"12h\"\n[store]\npath = \"tripkey.db\"\n"
        ),
    )
    .unwrap();
    let mut command = tripkey();
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .env("TRIPKEY_ADMIN_TOKEN", ADMIN)
        .env("HOME", folder);
    let serve = Serve::spawn(command);
    let server = format!("http://{}", serve.address());
    let created = tripkey()
        .args(["token", "create", "laptop-planter", "--scope", "issuer"])
        .args(["--allow-label", "host=*", "--allow-label", "user=*"])
        .args(["--allow-label", "os=*", "--allow-label", "location=*"])
        .args([
            "--allow-label",
            "repository=*",
            "--allow-label",
            "workflow=*",
        ])
        .args(["--allow-label", "run_id=*", "--allow-label", "job=*"])
        .args(["--allow-label", "project=*", "--allow-label", "pipeline=*"])
        .args(["--allow-label", "managed_by=*", "--allow-label", "role=*"])
        .args(["--server", &server, "--token", ADMIN])
        .env("HOME", folder)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let home = folder.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/credentials"), CREDENTIALS).unwrap();
    std::fs::write(home.join(".aws/config"), CONFIG).unwrap();
    (
        serve,
        Host {
            home,
            server,
            token,
        },
    )
}

/// An admin command through the server, as JSON.
fn admin(host: &Host, args: &[&str]) -> Value {
    json(
        &host
            .command(args)
            .args([
                "--format",
                "json",
                "--server",
                &host.server,
                "--token",
                ADMIN,
            ])
            .output()
            .unwrap(),
    )
}

pub fn canary(host: &Host, id: &str) -> Value {
    admin(host, &["canary", "show", id])
}

pub fn canary_count(host: &Host) -> usize {
    admin(host, &["canary", "list"])["canaries"]
        .as_array()
        .unwrap()
        .len()
}
