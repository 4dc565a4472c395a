//! `tripkey demo` as a newcomer meets it: it prints a dashboard URL and an admin token, the
//! API shows the three kinds of alert within seconds (the canary's carrying where it was
//! planted), Ctrl-C stops it and leaves nothing behind, and a taken port gets a hint.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How soon after start every alert of the replayed attack must be in the API.
const ALERTS_WITHIN: Duration = Duration::from_secs(10);

/// A running `tripkey demo`, its temporary folder inside `tmp`.
struct Demo {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Demo {
    fn start(tmp: &Path, args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tripkey"))
            .arg("demo")
            .args(args)
            .env("TMPDIR", tmp)
            .env_remove("TRIPKEY_ADMIN_TOKEN")
            .env_remove("TRIPKEY_OFFLINE_ACCOUNT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tripkey demo starts");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Demo {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// The rest of the first stdout line starting with `prefix`, waiting up to a minute.
    fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find_map(|line| line.strip_prefix(prefix).map(str::to_owned));
            if let Some(rest) = found {
                return rest;
            }
            assert!(
                Instant::now() < deadline,
                "no line {prefix:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C, and the exit status once it has stopped.
    fn interrupt(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not stop on Ctrl-C\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn of(demo: &Demo) -> Api {
        let url = demo.line("Dashboard: ");
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{url}"
        );
        assert!(!url.ends_with(":0/"), "the real port is shown: {url}");
        Api {
            client: reqwest::Client::new(),
            url,
            token: demo.line("Admin token: "),
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }
}

fn rules(page: &Value) -> BTreeSet<String> {
    page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["rule"].as_str().unwrap().to_owned())
        .collect()
}

/// Nothing is left in the demo's TMPDIR once it has stopped.
fn assert_empty(tmp: &Path) {
    let left: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_all_three_alerts_within_ten_seconds_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let demo = Demo::start(tmp.path(), &["--listen", "127.0.0.1:0"]);
    let api = Api::of(&demo);

    let credentials = PathBuf::from(demo.line("Credentials file: "));
    assert!(credentials.starts_with(tmp.path()), "{credentials:?}");
    let planted = std::fs::read_to_string(&credentials).unwrap();
    let profile = planted.lines().next().unwrap();
    assert!(
        profile.starts_with('[') && profile != "[default]",
        "{planted}"
    );
    let key = planted
        .lines()
        .find_map(|line| line.strip_prefix("aws_access_key_id = "))
        .unwrap()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let wanted: BTreeSet<String> = [
        "access-denied-burst",
        "canary-use",
        "instance-credential-exfiltration",
    ]
    .map(str::to_owned)
    .into();
    let page = loop {
        let page = api.get("api/v1/alerts").await;
        if rules(&page).is_superset(&wanted) {
            break page;
        }
        assert!(
            started.elapsed() < ALERTS_WITHIN,
            "after {:?} the API has {:?}\n{}",
            started.elapsed(),
            rules(&page),
            demo.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "all three alerts were in the API {:.1} s after the demo started",
        started.elapsed().as_secs_f64()
    );

    let canary_alert = page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["rule"] == "canary-use")
        .unwrap();
    let dedup_key = canary_alert["dedup_key"].as_str().unwrap();
    let shown = api.get(&format!("api/v1/alerts/{dedup_key}")).await;
    assert!(shown.to_string().contains(&key), "{shown}");
    let placements = shown["placements"].as_array().unwrap();
    assert_eq!(placements.len(), 1, "{shown}");
    assert_eq!(
        placements[0]["path"],
        credentials.to_str().unwrap(),
        "{shown}"
    );
    assert_eq!(placements[0]["format"], "credentials-profile");

    // The JSON-lines sink gets them too.
    let alerts_file = PathBuf::from(demo.line("Alerts file (JSON lines): "));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = std::fs::read_to_string(&alerts_file).unwrap_or_default();
        if wanted.iter().all(|rule| lines.contains(rule.as_str())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{alerts_file:?} holds:\n{lines}\n{}",
            demo.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let output = demo.output();
    assert!(output.contains("Ctrl-C to stop"), "{output}");
    // The canary's secret is in the credentials file only.
    let secret = planted
        .lines()
        .find_map(|line| line.strip_prefix("aws_secret_access_key = "))
        .unwrap();
    assert!(!output.contains(secret), "{output}");
    assert_eq!(demo.interrupt(), Some(0));
    assert_empty(tmp.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_attack_the_demo_has_five_canaries_and_no_alerts() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = Demo::start(tmp.path(), &["--listen", "127.0.0.1:0", "--no-attack"]);
    let api = Api::of(&demo);
    let canaries = api.get("api/v1/canaries").await;
    let canaries = canaries["canaries"].as_array().unwrap();
    assert_eq!(canaries.len(), 5, "{canaries:?}");
    for label in ["owner", "host", "location"] {
        assert!(
            canaries.iter().all(|c| c["labels"][label].is_string()),
            "every canary has {label}: {canaries:?}"
        );
    }
    let planted = api
        .get(&format!(
            "api/v1/canaries/{}",
            canaries
                .iter()
                .find(|c| c["labels"]["host"] == "mac-0231")
                .unwrap()["id"]
                .as_str()
                .unwrap()
        ))
        .await;
    assert_eq!(planted["placements"].as_array().unwrap().len(), 1);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let alerts = api.get("api/v1/alerts").await;
    assert_eq!(alerts["alerts"], Value::Array(Vec::new()), "{alerts}");
    assert_eq!(demo.interrupt(), Some(0));
    assert_empty(tmp.path());
}

#[test]
fn the_demo_on_a_taken_port_gets_a_one_line_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new(env!("CARGO_BIN_EXE_tripkey"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!("port {port} is in use; try tripkey demo --listen 127.0.0.1:0\n")
    );
    assert!(output.stdout.is_empty());
    assert_empty(tmp.path());
}
