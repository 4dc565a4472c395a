//! Memory under hostile input (not a test): run it with `benches/workers.sh`, which starts
//! moto and sets `TRIPKEY_BENCH_MOTO`.
//!
//! One `serve` reads trail objects of `LOAD_RECORDS` records arriving every second through S3
//! notifications, while `CLIENTS` clients post gzip bombs to `POST /ingest` as fast as it
//! answers for `SECONDS` seconds: each bomb is about 1 MB of gzip that inflates to
//! `BOMB_INFLATED` bytes. The process's resident memory is sampled every 50 ms. Target (issue
//! 16): peak RSS under 400 MB. Also reported: how the bombs were answered (refused as too
//! large for an item, or 503 while the memory budget was spent) and the records/s the queue
//! source kept up meanwhile.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
use common::Serve;

const ACCOUNT: &str = "123456789012";
/// Posting clients, unless `TRIPKEY_BENCH_CLIENTS` says how many.
const CLIENTS: usize = 8;
const SECONDS: u64 = 30;
const BOMB_INFLATED: usize = 1 << 30;
const LOAD_RECORDS: usize = 5_000;
const RSS_TARGET_MB: f64 = 400.0;

/// A CloudTrail-looking body whose one record list is a gigabyte of blanks.
fn bomb() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"Records\": [").unwrap();
    let blanks = vec![b' '; 1 << 20];
    for _ in 0..BOMB_INFLATED >> 20 {
        gz.write_all(&blanks).unwrap();
    }
    gz.write_all(b"]}").unwrap();
    gz.finish().unwrap()
}

fn load_object(second: u64) -> Vec<u8> {
    let now = trail::EventTime::from(std::time::SystemTime::now()).to_string();
    let records: Vec<serde_json::Value> = (0..LOAD_RECORDS)
        .map(|n| {
            serde_json::json!({"eventVersion": "1.09", "eventTime": now, "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23",
                "eventID": format!("load-{second}-{n}"),
                "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "accessKeyId": "AKIAQYLPMN5HAAAAAAAA",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice")}})
        })
        .collect();
    common::gzip_json(&serde_json::json!({ "Records": records }))
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

async fn records_read(client: &reqwest::Client, address: &str) -> f64 {
    let text = client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("tripkey_source_records_total{source=\"objects\"} "))
        .map_or(0.0, |n| n.trim().parse().unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let Ok(moto) = std::env::var("TRIPKEY_BENCH_MOTO") else {
        eprintln!("the gzip bomb benchmark needs moto: run benches/workers.sh");
        return;
    };
    let (s3, sqs) = common::moto_clients(&moto).await;
    let (bucket, queue) = common::bucket_notifying_queue(&s3, &sqs, "bombs").await;
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("tripkey.toml");
    std::fs::write(
        &config,
        format!(
            "[canary]\noffline_account = \"{ACCOUNT}\"\n[store]\npath = \"tripkey.db\"\n\
             [serve]\nopen_metrics = true\n\
             [[source]]\ntype = \"sqs\"\nname = \"objects\"\nqueue_url = \"{queue}\"\n"
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let token = common::tripkey_on_moto(&moto)
        .args([
            "token", "--config", config_arg, "create", "bombs", "--scope", "ingest",
        ])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let clients: usize = std::env::var("TRIPKEY_BENCH_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CLIENTS);
    let body = bomb();
    println!(
        "gzip bombs: {clients} clients posting {:.1} MB of gzip that inflates to {} MiB, for {SECONDS} s, \
         while {LOAD_RECORDS}-record objects arrive every second",
        body.len() as f64 / 1e6,
        BOMB_INFLATED >> 20
    );

    let mut command = common::tripkey_on_moto(&moto);
    command
        .args(["serve", "--config", config_arg, "--listen", "127.0.0.1:0"])
        .env("TRIPKEY_LOG", "error");
    let serve = Serve::spawn(command);
    let address = serve.address();
    let pid = serve.pid();
    let idle_rss = rss_mb(pid);
    let running = Arc::new(AtomicBool::new(true));

    let load = {
        let (s3, bucket, running) = (s3.clone(), bucket.clone(), running.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut second = 0;
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                let key = format!(
                    "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/05/{ACCOUNT}_CloudTrail_us-east-1_20261205T1000Z_B{second:015}.json.gz"
                );
                s3.put_object()
                    .bucket(&bucket)
                    .key(key)
                    .body(load_object(second).into())
                    .send()
                    .await
                    .unwrap();
                second += 1;
            }
        })
    };
    let answers: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
    let client = reqwest::Client::new();
    let posters: Vec<_> = (0..clients)
        .map(|_| {
            let (client, address, token, body, running, answers) = (
                client.clone(),
                address.clone(),
                token.clone(),
                body.clone(),
                running.clone(),
                answers.clone(),
            );
            tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    let answer = client
                        .post(format!("http://{address}/ingest"))
                        .bearer_auth(&token)
                        .body(body.clone())
                        .send()
                        .await;
                    let status = answer.map_or(0, |answer| answer.status().as_u16());
                    *answers.lock().unwrap().entry(status).or_default() += 1;
                    if status == 503 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            })
        })
        .collect();

    let before = records_read(&client, &address).await;
    let started = Instant::now();
    let mut peak = idle_rss;
    while started.elapsed() < Duration::from_secs(SECONDS) {
        peak = peak.max(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = (records_read(&client, &address).await - before) / started.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    for poster in posters {
        poster.await.unwrap();
    }
    load.await.unwrap();
    serve.terminate();

    println!("idle RSS {idle_rss:.0} MB, peak RSS {peak:.0} MB: {:.2} of the {RSS_TARGET_MB} MB target {}",
        peak / RSS_TARGET_MB,
        if peak < RSS_TARGET_MB { "MET" } else { "MISSED" });
    println!(
        "answers to the bombs by HTTP status: {:?}",
        answers.lock().unwrap()
    );
    println!("the queue source read {rate:.0} records/s meanwhile");
}
