//! What the serve tests and the serve benchmark share: a `tripkey serve` process (its stderr
//! collected, its address read from its first line, stopped by SIGTERM or SIGKILL, killed if
//! a test fails) and a trail bucket on moto that notifies a queue.

// Each test binary that includes this module uses only some of these helpers.
#![allow(dead_code)]

pub mod corpus;
pub mod planting;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A command's standard output as JSON, failing with both its outputs when it failed.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A running `tripkey serve`.
pub struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `command` (a `tripkey serve ...`) and waits until it listens.
    pub fn spawn(mut command: Command) -> Serve {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tripkey serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let serve = Serve { child, log };
        serve.wait_for_log("listening on http://");
        serve
    }

    /// Everything it has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to a minute for `done`, failing with the log.
    pub fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "serve never got to: {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to a minute for `text` in the log.
    pub fn wait_for_log(&self, text: &str) {
        self.wait_until(text, || self.log().contains(text));
    }

    /// The `HOST:PORT` it listens on.
    pub fn address(&self) -> String {
        let log = self.log();
        let rest = log
            .split("listening on http://")
            .nth(1)
            .expect("serve printed its address");
        rest.split_whitespace().next().unwrap().to_owned()
    }

    /// SIGTERM, and the exit status once it has stopped.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
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
                "serve did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The account moto answers for.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// S3 and SQS clients for the moto server at `endpoint`.
pub async fn moto_clients(endpoint: &str) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    tripkey_aws_sources::clients(&tripkey_aws::AwsOptions {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        credentials: Some(tripkey_aws::StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: tripkey_aws::Secret::new("testing"),
            session_token: None,
        }),
        ..tripkey_aws::AwsOptions::default()
    })
    .await
}

/// `stem` made unique to this process and moment, for names on a shared moto server.
pub fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

/// A trail bucket whose new objects are notified to a new queue, as deploy/aws sets it up;
/// returns the bucket and the queue URL.
pub async fn bucket_notifying_queue(
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    stem: &str,
) -> (String, String) {
    let bucket = unique(&format!("{stem}-trail"));
    let queue_name = unique(&format!("{stem}-objects"));
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(&queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(format!("arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:{queue_name}"))
                        .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    (bucket, queue)
}

/// A PostgreSQL database of its own on the cluster `TRIPKEY_TEST_DATABASE_URL` names
/// (scripts/test starts one), with tripkey's tables; dropped with the value.
pub struct TestPostgres {
    name: String,
    /// Its URL.
    pub url: String,
}

fn on_postgres_cluster(sql: String) {
    // A thread of its own, so that this works inside and outside an async test.
    std::thread::spawn(move || {
        let cluster = std::env::var("TRIPKEY_TEST_DATABASE_URL").expect(
            "TRIPKEY_TEST_DATABASE_URL is not set: run through scripts/test, which starts PostgreSQL",
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&cluster).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        });
    })
    .join()
    .expect("the cluster answers");
}

impl TestPostgres {
    /// A new database, migrated by `tripkey db migrate`.
    pub fn new(tripkey: &std::path::Path) -> TestPostgres {
        let name = format!("tripkey_e2e_{:016x}", rand::random::<u64>());
        on_postgres_cluster(format!("CREATE DATABASE {name}"));
        let cluster = std::env::var("TRIPKEY_TEST_DATABASE_URL").unwrap();
        let (base, _) = cluster.rsplit_once('/').expect("a URL with a database");
        let database = TestPostgres {
            url: format!("{base}/{name}"),
            name,
        };
        let migrated = Command::new(tripkey)
            .args(["db", "migrate", "--database", &database.url])
            .env_remove("TRIPKEY_CONFIG")
            .output()
            .unwrap();
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        database
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        on_postgres_cluster(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Empties the PostgreSQL database `url` names (a benchmark's, never a user's): its public
/// schema is dropped and made again.
pub async fn empty_postgres(url: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .execute(&mut connection)
        .await
        .unwrap();
}

/// `tripkey` with no AWS and nothing from the environment: no configuration, database,
/// server or token, and no instance metadata.
pub fn tripkey_offline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_SERVER")
        .env_remove("TRIPKEY_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// `tripkey serve --config CONFIG` on a free loopback port with `admin` as its admin token,
/// started with nothing from the environment ([`tripkey_offline`]).
pub fn serve_offline(config: &std::path::Path, admin: &str) -> Serve {
    let mut command = tripkey_offline();
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .env("TRIPKEY_ADMIN_TOKEN", admin);
    Serve::spawn(command)
}

/// Runs `tripkey ARGS` through the `serve` at `address` with `token`, from a client whose
/// home is `home` and holds no database.
pub fn through_server(
    address: &str,
    token: &str,
    home: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    tripkey_offline()
        .args(args)
        .args(["--server", &format!("http://{address}"), "--token", token])
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("share"))
        .output()
        .unwrap()
}

/// `tripkey` for a benchmark against the moto server at `moto`: test credentials, no
/// profile, no instance metadata, and no database or configuration from the environment.
pub fn tripkey_on_moto(moto: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", moto)
        .env_remove("AWS_PROFILE")
        .env_remove("TRIPKEY_DATABASE");
    command
}

/// `value` as JSON, gzipped as CloudTrail delivers its files.
pub fn gzip_json(value: &serde_json::Value) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(value.to_string().as_bytes()).unwrap();
    gz.finish().unwrap()
}
