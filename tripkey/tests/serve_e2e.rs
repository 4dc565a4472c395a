//! `tripkey serve` end to end, as a process: a trail bucket on a real moto server notifies a
//! queue, serve reads it and signs a webhook to a local receiver; it alerts once however often
//! the object is notified, survives `kill -9` in the middle of the work without losing or
//! repeating an alert, and escapes an attacker's userAgent in email sent through aiosmtpd.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

mod common;
use common::Serve;

const ACCOUNT: &str = "123456789012";
const HOOK_SECRET: &str = "e2e-signing-secret";

fn moto() -> String {
    std::env::var("TRIPKEY_TEST_MOTO_ENDPOINT")
        .expect("TRIPKEY_TEST_MOTO_ENDPOINT is unset: run through scripts/test, which starts moto")
}

fn tripkey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TRIPKEY_TEST_HOOK_SECRET", HOOK_SECRET)
        .env_remove("AWS_PROFILE")
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE");
    command
}

fn run(args: &[&str]) -> Output {
    let output = tripkey().args(args).output().expect("tripkey runs");
    output
}

fn expect_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Issues an offline canary for [`ACCOUNT`] into the database `db` (a path or URL); returns
/// (name, access key).
fn issue_canary(config: &Path, db: impl AsRef<OsStr>, location: &str) -> (String, String) {
    let output = tripkey()
        .args(["canary", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .args(["create", "--kind", "iam-user", "--label"])
        .arg(format!("location={location}"))
        .args(["--memo", "planted by the e2e test", "--format", "json"])
        .output()
        .expect("tripkey runs");
    let issued: serde_json::Value = serde_json::from_str(&expect_success(&output)).unwrap();
    (
        issued["canary"]["name"].as_str().unwrap().to_owned(),
        issued["credentials"]["access_key_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// Starts serve against moto with `config` and the database `db` (a path or URL).
fn start_serve(config: &Path, db: impl AsRef<OsStr>) -> Serve {
    let mut command = tripkey();
    command
        .args(["serve", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .args(["--endpoint-url", &moto()])
        .args(["--listen", "127.0.0.1:0"])
        // Debug logs, so the tests see that not even those hold a secret.
        .env("TRIPKEY_LOG", "debug");
    Serve::spawn(command)
}

/// One POST the receiver answered.
#[derive(Clone, Debug)]
struct Post {
    headers: HeaderMap,
    body: Bytes,
    answered: StatusCode,
    arrived: Instant,
}

/// A webhook receiver on a free loopback port, answering with a status the test sets.
#[derive(Clone)]
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
    answer: Arc<Mutex<StatusCode>>,
}

async fn take(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answered = *receiver.answer.lock().unwrap();
    receiver.posts.lock().unwrap().push(Post {
        headers,
        body,
        answered,
        arrived: Instant::now(),
    });
    answered
}

impl Receiver {
    async fn start(answer: StatusCode) -> (String, Receiver) {
        let receiver = Receiver {
            posts: Arc::default(),
            answer: Arc::new(Mutex::new(answer)),
        };
        let app = axum::Router::new()
            .route("/hook", post(take))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{address}/hook"), receiver)
    }

    fn answer(&self, status: StatusCode) {
        *self.answer.lock().unwrap() = status;
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The alerts the receiver accepted, by dedup key (a digest counts for each of its
    /// alerts), with how many times each was accepted.
    fn accepted(&self) -> BTreeMap<String, usize> {
        let mut accepted = BTreeMap::new();
        for post in self.posts() {
            if post.answered != StatusCode::OK {
                continue;
            }
            let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
            let keys: Vec<String> = match body["digest"]["dedup_keys"].as_array() {
                Some(keys) => keys
                    .iter()
                    .map(|k| k.as_str().unwrap().to_owned())
                    .collect(),
                None => vec![body["dedup_key"].as_str().unwrap().to_owned()],
            };
            for key in keys {
                *accepted.entry(key).or_insert(0) += 1;
            }
        }
        accepted
    }

    async fn wait_for_accepted(&self, count: usize, serve: &Serve) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.accepted().len() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} alerts reached the webhook; serve's log:\n{}",
                self.accepted().len(),
                serve.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn aws() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    common::moto_clients(&moto()).await
}

/// Messages on the queue, visible or in flight.
async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    [
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| {
        attributes
            .get(name)
            .map_or(0, |n| n.parse::<u64>().unwrap())
    })
    .sum()
}

async fn wait_until_drained(sqs: &aws_sdk_sqs::Client, queue: &str, serve: &Serve) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while queue_depth(sqs, queue).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the queue was not drained; serve's log:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A call signed with `key`, with `filler` ordinary calls of another principal around it.
fn trail_object(key: &str, event_id: &str, user_agent: &str, filler: usize) -> Vec<u8> {
    let now = trail::EventTime::from(std::time::SystemTime::now()).offset(-60_000);
    let mut records: Vec<serde_json::Value> = (0..filler)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.09", "eventTime": now.to_string(),
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "awsRegion": "us-east-1", "sourceIPAddress": "10.0.3.7",
                "userAgent": "aws-sdk-java/1.12", "eventID": format!("{event_id}-f{i}"),
                "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT,
                    "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/i-0abc"),
                    "accessKeyId": "ASIAQYLPMN5HAAAAAAAA"},
                "readOnly": true, "managementEvent": false
            })
        })
        .collect();
    records.push(serde_json::json!({
        "eventVersion": "1.09", "eventTime": now.to_string(),
        "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
        "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.23",
        "userAgent": user_agent, "eventID": event_id,
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": key,
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/x"), "userName": "x"},
        "readOnly": true, "managementEvent": true
    }));
    let body = serde_json::json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn object_key(suffix: &str) -> String {
    let at = trail::EventTime::from(std::time::SystemTime::now()).to_string();
    let (date, time) = at.split_once('T').unwrap();
    let stamp = format!("{}T{}Z", date.replace('-', ""), &time[..5].replace(':', ""));
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{stamp}_{suffix}.json.gz",
        date.replace('-', "/")
    )
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

fn write_config(folder: &Path, body: &str) -> PathBuf {
    let path = folder.join("tripkey.toml");
    std::fs::write(
        &path,
        format!("[canary]\noffline_account = \"{ACCOUNT}\"\n\n{body}"),
    )
    .unwrap();
    path
}

/// Serve on an SQS queue, delivering to a webhook. The test's trail objects hold every call of
/// their story, so nothing else is on its way: a second of quiet releases the exfiltration
/// decision that the default settle time would hold for five minutes.
fn sqs_webhook_config(folder: &Path, queue: &str, hook: &str) -> PathBuf {
    write_config(
        folder,
        &format!(
            "[serve]\nretry_cap = \"2s\"\nrate_window = \"1s\"\npublic_url = \"https://tripkey.example.com\"\n\n\
             [detect]\nsettle = \"1s\"\n\n\
             [[source]]\ntype = \"sqs\"\nname = \"trail-objects\"\nqueue_url = \"{queue}\"\n\
             visibility = \"6s\"\n\n\
             [[sink]]\nname = \"soc-hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\
             secret_env = \"TRIPKEY_TEST_HOOK_SECRET\"\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notified_trail_object_reaches_the_webhook_once_and_signed() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let (s3, sqs) = aws().await;
    let (bucket, queue) = common::bucket_notifying_queue(&s3, &sqs, "e2e").await;
    let (hook, receiver) = Receiver::start(StatusCode::OK).await;
    let config = sqs_webhook_config(folder.path(), &queue, &hook);
    let (canary, key) = issue_canary(&config, &db, "ci/github-actions secret AWS_KEY");

    let serve = start_serve(&config, &db);
    let object = object_key("E2EONCE0000000000");
    let body = trail_object(&key, "use-1", "aws-cli/2.17.0", 3);
    put(&s3, &bucket, &object, body.clone()).await;
    receiver.wait_for_accepted(1, &serve).await;
    // The demo's story: an instance's role credentials stolen and probed from elsewhere.
    let mut stolen = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    stolen
        .write_all(include_bytes!("../demo/cloudtrail.json"))
        .unwrap();
    let stolen_object = object_key("E2ESTOLEN00000000");
    put(&s3, &bucket, &stolen_object, stolen.finish().unwrap()).await;
    receiver.wait_for_accepted(3, &serve).await;

    // The same object again (a re-upload notifies again) and a redelivered notification.
    put(&s3, &bucket, &object, body).await;
    let notification = serde_json::json!({"Records": [{"eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
        "s3": {"bucket": {"name": bucket}, "object": {"key": object}}}]});
    sqs.send_message()
        .queue_url(&queue)
        .message_body(notification.to_string())
        .send()
        .await
        .unwrap();
    wait_until_drained(&sqs, &queue, &serve).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let posts = receiver.posts();
    let mut rules: Vec<String> = posts
        .iter()
        .map(|post| {
            let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
            body["rule"].as_str().unwrap().to_owned()
        })
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "access-denied-burst",
            "canary-use",
            "instance-credential-exfiltration"
        ],
        "exactly one notification per detection; log:\n{}",
        serve.log()
    );
    for post in &posts {
        let header = |name: &str| post.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert!(notify::verify_signature(
            HOOK_SECRET.as_bytes(),
            &header("x-tripkey-timestamp"),
            &post.body,
            &header("x-tripkey-signature"),
        ));
    }
    let post = posts
        .iter()
        .find(|post| post.body.windows(10).any(|w| w == b"canary-use"))
        .unwrap();
    let header = |name: &str| post.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert!(notify::verify_signature(
        HOOK_SECRET.as_bytes(),
        &header("x-tripkey-timestamp"),
        &post.body,
        &header("x-tripkey-signature"),
    ));
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body["dedup_key"], format!("canary-use:{canary}:use-1"));
    assert_eq!(
        header("x-tripkey-dedup-key"),
        format!("canary-use:{canary}:use-1")
    );
    let alert = &body["alert"];
    assert_eq!(
        alert["details"]["labels"]["location"],
        "ci/github-actions secret AWS_KEY"
    );
    assert_eq!(alert["details"]["labels"]["issuer"], "offline");
    assert_eq!(alert["details"]["memo"], "planted by the e2e test");
    assert_eq!(alert["event_name"], "GetCallerIdentity");
    assert_eq!(alert["region"], "eu-west-1");
    assert_eq!(alert["source_ip"], "198.51.100.23");
    assert!(body["link"]
        .as_str()
        .unwrap()
        .starts_with("https://tripkey.example.com/alerts/"));
    assert!(body["delay_ms"].as_i64().unwrap() >= 60_000);

    let log = serve.log();
    assert!(log.contains("DEBUG"), "the log is at debug level:\n{log}");
    assert!(
        !log.contains(HOOK_SECRET),
        "not even debug logs hold the signing secret"
    );
    assert_eq!(serve.terminate(), Some(0), "a clean stop on SIGTERM");
    let status = run(&[
        "status",
        "--config",
        config.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    let report = expect_success(&status);
    assert!(
        report.contains("canary-use                   1"),
        "{report}"
    );
    assert!(
        report.contains("instance-credential-exfiltration 1"),
        "{report}"
    );
    assert!(
        report.contains("soc-hook         ok               3"),
        "{report}"
    );
    let shown = expect_success(&run(&[
        "canary",
        "--config",
        config.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "show",
        &canary,
    ]));
    assert!(
        shown.contains("triggered"),
        "the canary is marked used: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_loses_no_alert_and_repeats_none() {
    const CANARIES: usize = 6;
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let (s3, sqs) = aws().await;
    let (bucket, queue) = common::bucket_notifying_queue(&s3, &sqs, "e2e").await;
    // The receiver is down at first, so no notification can be accepted before the kill
    // and every one must come from the outbox after the restart.
    let (hook, receiver) = Receiver::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let config = sqs_webhook_config(folder.path(), &queue, &hook);
    let canaries: Vec<(String, String)> = (0..CANARIES)
        .map(|i| issue_canary(&config, &db, &format!("host-{i}")))
        .collect();

    let serve = start_serve(&config, &db);
    for (i, (_, key)) in canaries.iter().enumerate() {
        let object = object_key(&format!("E2EKILL{i:010}"));
        put(
            &s3,
            &bucket,
            &object,
            trail_object(key, &format!("use-{i}"), "boto3/1.35", 20_000),
        )
        .await;
    }
    // Killed once the first alert is committed and while objects are still queued.
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.posts().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no delivery attempt; log:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_kill = queue_depth(&sqs, &queue).await;
    serve.kill_hard();
    assert!(
        before_kill > 0,
        "the kill came after all the work: make the objects bigger"
    );

    receiver.answer(StatusCode::OK);
    let serve = start_serve(&config, &db);
    receiver.wait_for_accepted(CANARIES, &serve).await;
    wait_until_drained(&sqs, &queue, &serve).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let accepted = receiver.accepted();
    let expected: BTreeMap<String, usize> = canaries
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (format!("canary-use:{name}:use-{i}"), 1))
        .collect();
    assert_eq!(
        accepted,
        expected,
        "each alert accepted exactly once; log:\n{}",
        serve.log()
    );
    let listed = expect_success(&run(&[
        "alert",
        "--db",
        db.to_str().unwrap(),
        "list",
        "--json",
        "-n",
        "100",
    ]));
    assert_eq!(
        listed.lines().count(),
        CANARIES,
        "one stored alert per use:\n{listed}"
    );
    assert_eq!(serve.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_postgres_share_one_queue_and_a_killed_one_loses_and_repeats_nothing() {
    const CANARIES: usize = 9;
    let folder = tempfile::tempdir().unwrap();
    let database = common::TestPostgres::new(Path::new(env!("CARGO_BIN_EXE_tripkey")));
    let db = database.url.as_str();
    let (s3, sqs) = aws().await;
    let (bucket, queue) = common::bucket_notifying_queue(&s3, &sqs, "workers").await;
    let (hook, receiver) = Receiver::start(StatusCode::OK).await;
    let config = sqs_webhook_config(folder.path(), &queue, &hook);
    let canaries: Vec<(String, String)> = (0..CANARIES)
        .map(|i| issue_canary(&config, db, &format!("host-{i}")))
        .collect();

    let workers: Vec<Serve> = (0..3).map(|_| start_serve(&config, db)).collect();
    for (i, (_, key)) in canaries.iter().enumerate() {
        let object = object_key(&format!("E2EWORK{i:010}"));
        put(
            &s3,
            &bucket,
            &object,
            trail_object(key, &format!("use-{i}"), "boto3/1.35", 20_000),
        )
        .await;
    }
    // One worker dies (kill -9) once the first alert went out, with objects still queued and
    // perhaps a batch or a send of its own in flight.
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.posts().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no delivery; log:\n{}",
            workers[0].log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut workers = workers.into_iter();
    let killed = workers.next().unwrap();
    let killed_pid = killed.pid();
    killed.kill_hard();
    let survivors: Vec<Serve> = workers.collect();

    receiver.wait_for_accepted(CANARIES, &survivors[0]).await;
    wait_until_drained(&sqs, &queue, &survivors[0]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expected: BTreeMap<String, usize> = canaries
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (format!("canary-use:{name}:use-{i}"), 1))
        .collect();
    assert_eq!(
        receiver.accepted(),
        expected,
        "each alert accepted exactly once; logs:\n{}\n{}",
        survivors[0].log(),
        survivors[1].log()
    );

    let status = status_of(db);
    let workers = status["workers"].as_array().expect("status lists workers");
    assert_eq!(workers.len(), 3, "{status}");
    let records: u64 = workers.iter().map(|w| w["records"].as_u64().unwrap()).sum();
    assert!(records > 0, "the heartbeats carry the counters: {status}");
    let killed = workers
        .iter()
        .find(|w| w["pid"].as_u64() == Some(u64::from(killed_pid)))
        .expect("the killed worker is listed");
    assert_ne!(
        killed["state"], "stopped",
        "it never said goodbye: {killed}"
    );
    for survivor in survivors {
        assert_eq!(survivor.terminate(), Some(0));
    }
    let status = status_of(db);
    let stopped = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["state"] == "stopped")
        .count();
    assert_eq!(stopped, 2, "the survivors stopped cleanly: {status}");
}

/// The aiosmtpd server scripts/test starts, and the Maildir it writes messages to.
fn smtp() -> (String, PathBuf) {
    let address = std::env::var("TRIPKEY_TEST_SMTP").expect(
        "TRIPKEY_TEST_SMTP is not set: run the tests through scripts/test, which starts aiosmtpd",
    );
    let maildir = std::env::var("TRIPKEY_TEST_SMTP_MAILDIR")
        .expect("TRIPKEY_TEST_SMTP_MAILDIR is not set: run the tests through scripts/test");
    (address, maildir.into())
}

/// The message whose subject names `canary`, raw.
fn wait_for_mail(maildir: &Path, canary: &str, serve: &Serve) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for entry in std::fs::read_dir(maildir.join("new"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let bytes = std::fs::read(entry.path()).unwrap();
            let parsed = mailparse::parse_mail(&bytes).unwrap();
            let subject = parsed
                .headers
                .iter()
                .find(|h| h.get_key() == "Subject")
                .map(|h| h.get_value())
                .unwrap_or_default();
            if subject.contains(canary) {
                return bytes;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no email about {canary}; log:\n{}",
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_escapes_a_hostile_user_agent_end_to_end() {
    let (smtp, maildir) = smtp();
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("tripkey.db");
    let logs = folder.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = write_config(
        folder.path(),
        &format!(
            "[[source]]\ntype = \"dir\"\nname = \"local\"\npath = \"logs\"\npoll = \"200ms\"\n\n\
             [[sink]]\nname = \"soc-mail\"\ntype = \"email\"\nhost = \"{host}\"\nport = {port}\n\
             tls = \"none\"\nfrom = \"tripkey <tripkey@example.com>\"\nto = [\"soc@example.com\"]\n"
        ),
    );
    let (canary, key) = issue_canary(&config, &db, "laptop <b>mac-0231</b>");
    let serve = start_serve(&config, &db);
    let hostile = "<script>alert(1)</script>\r\nBcc: attacker@evil.example\r\n\u{1b}[2J";
    let file = logs.join("trail.json.gz");
    std::fs::write(&file, trail_object(&key, "use-mail", hostile, 0)).unwrap();

    let raw = wait_for_mail(&maildir, &canary, &serve);
    let parsed = mailparse::parse_mail(&raw).unwrap();
    let names: Vec<String> = parsed
        .headers
        .iter()
        .map(|h| h.get_key().to_ascii_lowercase())
        .collect();
    assert!(
        !names.contains(&"bcc".to_owned()),
        "no header injected: {names:?}"
    );
    let recipients: Vec<String> = parsed
        .headers
        .iter()
        .filter(|h| h.get_key() == "Delivered-To")
        .map(|h| h.get_value())
        .collect();
    assert_eq!(recipients, ["soc@example.com"], "nobody else received it");
    let part = |mime: &str| {
        parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .unwrap()
            .get_body()
            .unwrap()
    };
    let text = part("text/plain");
    let page = part("text/html");
    assert!(
        !text.contains('\u{1b}'),
        "no terminal escape in the text body"
    );
    assert!(
        text.contains("\\u{d}\\u{a}Bcc: attacker@evil.example"),
        "{text}"
    );
    assert!(
        !page.contains("<script>") && !page.contains("<b>mac-0231"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("laptop &lt;b&gt;mac-0231&lt;/b&gt;"),
        "{page}"
    );
    assert_eq!(serve.terminate(), Some(0));
}

/// `tripkey status --format json` of the database `db`, read from the database alone. (It
/// exits 1 while something needs a look, a delivery waiting among them; the JSON is the same.)
fn status_of(db: &str) -> serde_json::Value {
    let output = tripkey()
        .args(["status", "--database", db, "--format", "json"])
        .args(["--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "status: {error}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The live worker holding `job`, by pid, if any.
fn job_holder(status: &serde_json::Value, job: &str) -> Option<u64> {
    status["workers"]
        .as_array()?
        .iter()
        .find(|w| w["state"] == "live" && w["jobs"].as_array().unwrap().iter().any(|j| j == job))
        .and_then(|w| w["pid"].as_u64())
}

/// How a run of the organisation trail goes.
struct OrganisationRun<'a> {
    /// The generated corpus.
    corpus: &'a Path,
    /// The database URL or SQLite path.
    db: &'a str,
    /// `serve` processes sharing it.
    workers: usize,
    /// Whether the worker listing the polled bucket is killed (-9) after the first delivery.
    kill_the_lister: bool,
}

/// Feeds the corpus to `serve` through both AWS sources at once: the first account's objects
/// are notified on an SQS queue, the other accounts' are in a bucket the S3 source polls;
/// waits until every expected alert reached the webhook and the input is read. Returns every
/// alert (`alert list --format jsonl`, withdrawn ones included) and what the webhook received.
/// What an organisation run left: every alert as `alert list` gives it (JSON lines), what the
/// webhook received, and when a worker was killed, if one was.
struct OrganisationOutcome {
    alerts: String,
    posts: Vec<Post>,
    killed: Option<Instant>,
}

async fn run_organisation_trail(run: OrganisationRun<'_>) -> OrganisationOutcome {
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.corpus.join("ground-truth.json")).unwrap())
            .unwrap();
    let expected = truth["alerts"].as_array().unwrap().len();
    let (s3, sqs) = aws().await;
    let (notified, queue) = common::bucket_notifying_queue(&s3, &sqs, "org").await;
    let polled = common::unique("org-polled");
    s3.create_bucket().bucket(&polled).send().await.unwrap();

    let mut objects = Vec::new();
    let mut folders = vec![run.corpus.join("AWSLogs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let key = path.strip_prefix(run.corpus).unwrap();
                objects.push((key.to_str().unwrap().to_owned(), path));
            }
        }
    }
    objects.sort();
    let first_account = objects[0].0.split('/').nth(2).unwrap().to_owned();
    // Delivery order: the stamp in the name (late files carry their late delivery time).
    objects.sort_by_key(|(key, _)| {
        key.rsplit('/')
            .next()
            .unwrap()
            .split('_')
            .nth(3)
            .map(str::to_owned)
    });
    for (key, path) in &objects {
        let bucket = if key.split('/').nth(2) == Some(first_account.as_str()) {
            &notified
        } else {
            &polled
        };
        put(&s3, bucket, key, std::fs::read(path).unwrap()).await;
    }

    let folder = tempfile::tempdir().unwrap();
    let (hook, receiver) = Receiver::start(StatusCode::OK).await;
    // settle: longer than the corpus's latest file (30 minutes), so that a decision waits for
    // the records of files delivered late. horizon: the notified account runs to the corpus's
    // end (3 hours) while the polled one is still read from its start, region by region, so
    // polled records come up to 3.5 hours behind the newest; order-independence is promised
    // within the horizon only (detection-order.md), and the polled batches of three workers
    // commit out of order. quiet: a survivor waiting for a dead worker's claims (5 s) and
    // messages (10 s) is not quiet long enough to release decisions whose records are still
    // on their way.
    let config = write_config(
        folder.path(),
        &format!(
            "[serve]\nretry_cap = \"2s\"\nrate_window = \"1s\"\nquiet = \"20s\"\n\n\
             [detect]\nsettle = \"35m\"\nhorizon = \"4h\"\n\n\
             [[source]]\ntype = \"sqs\"\nname = \"notified\"\nqueue_url = \"{queue}\"\n\
             visibility = \"10s\"\n\n\
             [[source]]\ntype = \"s3\"\nname = \"polled\"\nbucket = \"{polled}\"\npoll = \"1s\"\n\
             start_back = \"24h\"\nclaim = \"5s\"\nbatch_objects = 8\n\n\
             [[sink]]\nname = \"soc-hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n\
             secret_env = \"TRIPKEY_TEST_HOOK_SECRET\"\n"
        ),
    );
    let canaries = run.corpus.join("canaries.toml");
    let start = || {
        let mut command = tripkey();
        command
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--db", run.db, "--endpoint-url", &moto()])
            .args(["--listen", "127.0.0.1:0", "--canaries"])
            .arg(&canaries);
        Serve::spawn(command)
    };
    let mut workers: Vec<Serve> = (0..run.workers).map(|_| start()).collect();

    let mut killed_at = None;
    if run.kill_the_lister {
        let deadline = Instant::now() + Duration::from_secs(120);
        while receiver.posts().is_empty() {
            assert!(
                Instant::now() < deadline,
                "no delivery; log:\n{}",
                workers[0].log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = status_of(run.db);
        let holder = job_holder(&status, "s3:polled").expect("a worker lists the bucket");
        let jobs: Vec<String> = status["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["pid"].as_u64() == Some(holder))
            .map(|w| serde_json::from_value(w["jobs"].clone()).unwrap())
            .unwrap();
        let doomed = workers
            .iter()
            .position(|w| u64::from(w.pid()) == holder)
            .unwrap();
        workers.remove(doomed).kill_hard();
        let killed = Instant::now();
        killed_at = Some(killed);
        // The lease (30 s) runs out unrenewed; the next try (every 10 s) takes the job.
        loop {
            let status = status_of(run.db);
            let moved = jobs
                .iter()
                .all(|job| job_holder(&status, job).is_some_and(|pid| pid != holder));
            if moved {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(45),
                "the jobs {jobs:?} did not move within their lease: {status}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let status = status_of(run.db);
        let drained = queue_depth(&sqs, &queue).await == 0
            && status["objects_waiting"]
                .as_object()
                .is_none_or(|w| w.is_empty())
            && status["sinks"]
                .as_array()
                .is_some_and(|sinks| sinks.iter().all(|sink| sink["pending"] == 0));
        if drained && receiver.accepted().len() >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} alerts reached the webhook; status {status}\nlog:\n{}",
            receiver.accepted().len(),
            workers[0].log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Anything still to come (a repeat, a late decision) would come now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = status_of(run.db);
    assert_eq!(
        status["unreadable"],
        serde_json::json!([]),
        "every object was read"
    );
    assert_eq!(
        status["lateness"]["beyond_horizon"], 0,
        "every record came within the horizon, where the alerts cannot depend on the order \
         the workers commit in: {status}"
    );
    assert!(
        workers[0]
            .log()
            .contains("start_back reaches past the lateness horizon"),
        "a start_back of 24h past the 4h horizon is warned of: {}",
        workers[0].log()
    );
    for worker in workers {
        assert_eq!(worker.terminate(), Some(0));
    }
    let listed = tripkey()
        .args(["alert", "list", "--database", run.db])
        .args(["--format", "jsonl", "-n", "100000"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    OrganisationOutcome {
        alerts: String::from_utf8(listed.stdout).unwrap(),
        posts: receiver.posts(),
        killed: killed_at,
    }
}

/// The alerts of `alerts` (`alert list --format jsonl`, withdrawn ones included) that stand,
/// as JSON lines, and their dedup keys.
fn standing(alerts: &str) -> (String, BTreeSet<String>) {
    let lines: Vec<&str> = alerts
        .lines()
        .filter(|line| !line.contains("\"status\":\"withdrawn\""))
        .collect();
    let keys = lines
        .iter()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            alert["dedup_key"].as_str().unwrap().to_owned()
        })
        .collect();
    (lines.join("\n"), keys)
}

/// The rule and principal of a denial burst's dedup key (`access-denied-burst:PRINCIPAL:MS`),
/// which stay when a late denial moves the burst's start, and with it the key.
fn burst_of(key: &str) -> Option<&str> {
    key.strip_prefix("access-denied-burst:")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(principal, _)| principal)
}

/// The webhook was told of each standing alert exactly once, and of nothing else but alerts
/// it was then told were withdrawn. A standing burst alert may have been told under the key
/// it had before a late denial moved its start: the renamed alert keeps its delivery, and is
/// not told twice.
/// Asserts that the webhook was told of each standing alert once and of nothing else but
/// alerts it was then told were withdrawn. One repeat is allowed for a notice on its way
/// when a worker was killed (the first copy arrived before the kill, the second after): the
/// killed worker may have sent it and died before recording it, and deploy.md says so.
fn assert_told_once(outcome: &OrganisationOutcome, what: &str) {
    let (alerts, posts) = (outcome.alerts.as_str(), outcome.posts.as_slice());
    let (_, standing) = standing(alerts);
    let withdrawn: BTreeSet<String> = alerts
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|alert| alert["status"] == "withdrawn")
        .map(|alert| alert["dedup_key"].as_str().unwrap().to_owned())
        .collect();
    let mut raised: BTreeMap<String, usize> = BTreeMap::new();
    let mut arrivals: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
    let mut withdrawals = BTreeSet::new();
    for post in posts.iter().filter(|post| post.answered == StatusCode::OK) {
        let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        if body["kind"] == "withdrawal" {
            withdrawals.insert(body["dedup_key"].as_str().unwrap().to_owned());
            continue;
        }
        let keys: Vec<String> = match body["digest"]["dedup_keys"].as_array() {
            Some(keys) => keys
                .iter()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect(),
            None => vec![body["dedup_key"].as_str().unwrap().to_owned()],
        };
        for key in keys {
            *raised.entry(key.clone()).or_insert(0) += 1;
            arrivals
                .entry(key)
                .or_default()
                .push((post.arrived, body["kind"].to_string()));
        }
    }
    let on_its_way_at_the_kill = |copies: &[(Instant, String)]| {
        outcome.killed.is_some_and(|killed| {
            copies.len() == 2 && copies[0].0 < killed && copies[1].0 >= killed
        })
    };
    let twice: Vec<String> = raised
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(key, _)| key)
        .filter(|key| {
            let copies = &arrivals[*key];
            let tolerated = on_its_way_at_the_kill(copies);
            if tolerated {
                eprintln!("{what}: {key} was on its way when a worker was killed, and came again");
            }
            !tolerated
        })
        .map(|key| {
            let base = outcome.killed.unwrap_or(arrivals[key][0].0);
            let copies: Vec<String> = arrivals[key]
                .iter()
                .map(|(at, kind)| {
                    let ms = if *at >= base {
                        (*at - base).as_millis() as i64
                    } else {
                        -((base - *at).as_millis() as i64)
                    };
                    format!("{kind} at {ms} ms")
                })
                .collect();
            format!("{key}: {copies:?}")
        })
        .collect();
    assert!(
        twice.is_empty(),
        "{what}: told twice (times from the kill, or the first copy): {twice:#?}"
    );

    let mut renamed_from: Vec<&str> = raised
        .keys()
        .filter(|key| !standing.contains(*key) && !withdrawn.contains(*key))
        .map(|key| {
            burst_of(key).unwrap_or_else(|| panic!("{what}: told of {key}, which is not an alert"))
        })
        .collect();
    let mut renamed_to: Vec<&str> = standing
        .iter()
        .filter(|key| !raised.contains_key(*key))
        .map(|key| burst_of(key).unwrap_or_else(|| panic!("{what}: never told of {key}")))
        .collect();
    renamed_from.sort_unstable();
    renamed_to.sort_unstable();
    assert_eq!(
        renamed_from, renamed_to,
        "{what}: each standing burst not told under its key was told under its earlier key"
    );
    eprintln!(
        "{what}: told of {} alerts; {} bursts renamed after they were told; withdrawn: {:?}",
        raised.len(),
        renamed_from.len(),
        alerts
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|alert| withdrawals.contains(alert["dedup_key"].as_str().unwrap()))
            .map(|alert| format!("{} ({})", alert["dedup_key"], alert["withdrawn_because"]))
            .collect::<Vec<_>>()
    );
    for key in raised.keys().filter(|key| withdrawn.contains(*key)) {
        assert!(
            withdrawals.contains(key),
            "{what}: told of {key}, then not told it was withdrawn"
        );
    }
}

/// The issue's end-to-end check: 3 workers on PostgreSQL, one queue and one polled bucket;
/// the worker listing the bucket is killed mid-run and its jobs move within their lease;
/// every expected alert reaches the webhook exactly once, and nothing else does; 1 worker on
/// SQLite gives the same alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_trail_through_three_workers_gives_the_truth_once_as_one_worker_does() {
    let folder = tempfile::tempdir().unwrap();
    let corpus = folder.path().join("corpus");
    // Recent, so the polled bucket's start_back covers it; whole minutes, as the generator
    // takes them.
    let start = trail::EventTime::from(std::time::SystemTime::now()).offset(-5 * 3_600_000);
    let start = trail::EventTime(start.0 - start.0 % 60_000).to_string();
    let generated = Command::new(common::corpus::corpus_generator())
        .args(["--records", "10000", "--span-hours", "3", "--seed", "5"])
        .args(["--accounts", "2", "--max-lateness", "30", "--jobs", "2"])
        .args(["--start", &start, "--out"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");

    let database = common::TestPostgres::new(Path::new(env!("CARGO_BIN_EXE_tripkey")));
    let outcome = run_organisation_trail(OrganisationRun {
        corpus: &corpus,
        db: &database.url,
        workers: 3,
        kill_the_lister: true,
    })
    .await;
    let (lines, keys) = standing(&outcome.alerts);
    common::corpus::assert_truth(&corpus, &lines, "three workers on postgres");
    assert_told_once(&outcome, "three workers on postgres");

    let sqlite = folder.path().join("one-worker.db");
    let outcome = run_organisation_trail(OrganisationRun {
        corpus: &corpus,
        db: sqlite.to_str().unwrap(),
        workers: 1,
        kill_the_lister: false,
    })
    .await;
    let (lines, one_worker_keys) = standing(&outcome.alerts);
    common::corpus::assert_truth(&corpus, &lines, "one worker on sqlite");
    assert_told_once(&outcome, "one worker on sqlite");
    assert_eq!(one_worker_keys, keys, "the same alerts");
}
