//! Many `serve` workers on one PostgreSQL database (not a test): run it with
//! `benches/workers.sh`, which starts moto and PostgreSQL and sets `TRIPKEY_BENCH_MOTO` and
//! `TRIPKEY_BENCH_DATABASE_URL`.
//!
//! The same corpus (`OBJECTS` trail objects of `RECORDS_PER_OBJECT` records: instance role
//! sessions from their own addresses, a principal's denied calls, IAM users' reads) is read by
//! 1, 2 and 3 workers in turn, each time on an emptied database, in two ways: from a bucket
//! that notifies one SQS queue, and from a bucket the S3 source polls (one worker lists it,
//! every worker claims batches of its objects). For each it reports records/s (wall clock,
//! from the workers' start to the last object read) and the CPU seconds the workers spent per
//! million records (user and system time of every worker process, from /proc). Target (issue
//! 16): CPU per record with 3 workers at most 20% above 1 worker. This machine may have fewer
//! cores than workers, so CPU per record is the figure that says what coordination costs, not
//! the speed-up.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
use common::Serve;

const ACCOUNT: &str = "123456789012";
const OBJECTS: usize = 60;
const RECORDS_PER_OBJECT: usize = 5_000;
const WORKERS: [usize; 3] = [1, 2, 3];
const CPU_TARGET: f64 = 1.2;

fn record(object: usize, n: usize) -> serde_json::Value {
    let minute = object % 60;
    let event_time = format!("2026-12-05T10:{minute:02}:{:02}Z", n % 60);
    let event_id = format!("w-{object}-{n}");
    let identity = match n % 4 {
        // An instance's role session, called from the instance's own address.
        0 | 1 => {
            let instance = (object * RECORDS_PER_OBJECT + n) % 20_000;
            serde_json::json!({"type": "AssumedRole", "accountId": ACCOUNT,
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/i-{instance:017x}"),
                "accessKeyId": format!("ASIA{instance:016}"),
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCOUNT}:role/web")},
                    "ec2RoleDelivery": "2.0"}})
        }
        2 => serde_json::json!({"type": "IAMUser", "accountId": ACCOUNT,
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/user-{}", n % 500), "accessKeyId": "AKIAQYLPMN5HAAAAAAAA"}),
        _ => serde_json::json!({"type": "IAMUser", "accountId": ACCOUNT,
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/prober-{}", object % 7), "accessKeyId": "AKIAQYLPMN5HBBBBBBBB"}),
    };
    let instance_address = format!("10.0.{}.{}", (n / 256) % 256, n % 256);
    let mut record = serde_json::json!({
        "eventVersion": "1.09", "eventTime": event_time,
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "us-east-1", "sourceIPAddress": instance_address,
        "userAgent": "aws-sdk-go/1.44.0", "eventID": event_id,
        "userIdentity": identity, "recipientAccountId": ACCOUNT
    });
    if n % 4 == 3 {
        record["errorCode"] = "AccessDenied".into();
    }
    record
}

fn object(index: usize) -> Vec<u8> {
    let records: Vec<serde_json::Value> =
        (0..RECORDS_PER_OBJECT).map(|n| record(index, n)).collect();
    common::gzip_json(&serde_json::json!({ "Records": records }))
}

/// User and system CPU seconds of a process so far (its threads included).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("a live process");
    // The command name may hold spaces; the fields after it are fixed.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ: 100 on every Linux ABI.
    ticks / 100.0
}

fn start_worker(moto: &str, config: &Path) -> Serve {
    let mut command = common::tripkey_on_moto(moto);
    command.env("TRIPKEY_LOG", "warn").args([
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    Serve::spawn(command)
}

async fn queue_empty(sqs: &aws_sdk_sqs::Client, queue: &str) -> bool {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    attributes
        .values()
        .all(|count| count.parse::<u64>().unwrap_or(1) == 0)
}

/// How the objects reach the workers.
#[derive(Clone, Copy)]
enum Delivery {
    /// A bucket notifying one SQS queue.
    Queue,
    /// A bucket the S3 source polls: one worker lists it, every worker claims batches.
    PolledBucket,
}

/// A source ready for a run: its `[[source]]` table and how to tell it was read whole.
struct Prepared {
    config: String,
    queue: Option<String>,
}

impl Delivery {
    fn title(self) -> &'static str {
        match self {
            Delivery::Queue => "one SQS queue of S3 notifications:",
            Delivery::PolledBucket => "one polled bucket (S3 source, batches of 4 objects):",
        }
    }

    fn key(index: usize) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/05/{ACCOUNT}_CloudTrail_us-east-1_20261205T10{:02}Z_W{index:015}.json.gz",
            index % 60
        )
    }

    async fn prepare(
        self,
        s3: &aws_sdk_s3::Client,
        sqs: &aws_sdk_sqs::Client,
        bodies: &[Vec<u8>],
    ) -> Prepared {
        let (bucket, prepared) = match self {
            Delivery::Queue => {
                let (bucket, queue) = common::bucket_notifying_queue(s3, sqs, "workers").await;
                let config =
                    format!("type = \"sqs\"\nname = \"objects\"\nqueue_url = \"{queue}\"\n");
                (
                    bucket,
                    Prepared {
                        config,
                        queue: Some(queue),
                    },
                )
            }
            Delivery::PolledBucket => {
                let bucket = common::unique("workers-polled");
                s3.create_bucket().bucket(&bucket).send().await.unwrap();
                // The corpus is dated 2026-12-05; start_back reaches it from any later day.
                let config = format!(
                    "type = \"s3\"\nname = \"objects\"\nbucket = \"{bucket}\"\npoll = \"1s\"\n\
                     start_back = \"{}h\"\nbatch_objects = 4\n",
                    hours_since_corpus() + 1
                );
                (
                    bucket.clone(),
                    Prepared {
                        config,
                        queue: None,
                    },
                )
            }
        };
        for (index, body) in bodies.iter().enumerate() {
            s3.put_object()
                .bucket(&bucket)
                .key(Delivery::key(index))
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
        }
        prepared
    }
}

impl Prepared {
    /// Every object was read: the queue is empty, or the bucket was listed and no listed
    /// object waits.
    async fn read(&self, sqs: &aws_sdk_sqs::Client, database: &str) -> bool {
        match &self.queue {
            Some(queue) => queue_empty(sqs, queue).await,
            None => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
                let (listed, waiting): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM checkpoints WHERE source = 'objects'), \
                     (SELECT COUNT(*) FROM source_objects)",
                )
                .fetch_one(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
                listed > 0 && waiting == 0
            }
        }
    }
}

/// Whole hours from the corpus's first record (2026-12-05T10:00Z) to now.
fn hours_since_corpus() -> i64 {
    let corpus: i64 = 1_796_464_800;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    ((now - corpus) / 3_600).max(1)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let (Ok(moto), Ok(database)) = (
        std::env::var("TRIPKEY_BENCH_MOTO"),
        std::env::var("TRIPKEY_BENCH_DATABASE_URL"),
    ) else {
        eprintln!("the workers benchmark needs moto and PostgreSQL: run benches/workers.sh");
        return;
    };
    let (s3, sqs) = common::moto_clients(&moto).await;
    let bodies: Vec<Vec<u8>> = (0..OBJECTS).map(object).collect();
    let total = (OBJECTS * RECORDS_PER_OBJECT) as f64;
    println!(
        "{} workers benchmark: {OBJECTS} objects of {RECORDS_PER_OBJECT} records, {} cores, PostgreSQL",
        WORKERS.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for delivery in [Delivery::Queue, Delivery::PolledBucket] {
        println!("{}", delivery.title());
        println!(
            "{:>7} {:>12} {:>10} {:>14} {:>8}",
            "workers", "records/s", "wall s", "CPU s/M rec", "ratio"
        );
        let mut base: Option<f64> = None;
        for workers in WORKERS {
            common::empty_postgres(&database).await;
            let source = delivery.prepare(&s3, &sqs, &bodies).await;
            let folder = tempfile::tempdir().unwrap();
            let config = folder.path().join("tripkey.toml");
            std::fs::write(
                &config,
                format!(
                    "[canary]\noffline_account = \"{ACCOUNT}\"\n[store]\nurl = \"{database}\"\n\
                     [[source]]\n{}",
                    source.config
                ),
            )
            .unwrap();
            let started = Instant::now();
            let running: Vec<Serve> = (0..workers).map(|_| start_worker(&moto, &config)).collect();
            let deadline = Instant::now() + Duration::from_secs(1_800);
            while !source.read(&sqs, &database).await {
                assert!(
                    Instant::now() < deadline,
                    "the workers did not read everything; log:\n{}",
                    running[0].log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let wall = started.elapsed().as_secs_f64();
            let cpu: f64 = running.iter().map(|serve| cpu_seconds(serve.pid())).sum();
            for serve in running {
                serve.terminate();
            }
            let per_million = cpu / total * 1e6;
            let base = *base.get_or_insert(per_million);
            println!(
                "{workers:>7} {:>12.0} {wall:>10.1} {per_million:>14.2} {:>7.2}x",
                total / wall,
                per_million / base
            );
            if workers == *WORKERS.last().unwrap() {
                let ratio = per_million / base;
                println!(
                    "CPU per record, {workers} workers against 1: {ratio:.2}x (target <= {CPU_TARGET}x) {}",
                    if ratio <= CPU_TARGET { "MET" } else { "MISSED" }
                );
            }
        }
    }
}
