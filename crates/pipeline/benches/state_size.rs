//! The cost of one small batch against the size of what the detectors remember (issue 16):
//! 0, 10,000 and 100,000 tracked instance sessions, each followed by 50 batches of 20 records
//! (half of them calls of sessions already tracked, half new ones), timed from the batch's
//! bytes to its commit. Target: a batch with 100,000 sessions costs at most 1.5x one with
//! none.
//!
//! Runs on an SQLite file, and on PostgreSQL too when `TRIPKEY_BENCH_DATABASE_URL` names a
//! database that may be emptied (benches/serve.sh starts one). `TRIPKEY_BENCH_SIZES` replaces
//! the sizes, e.g. `0,1000`.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use pipeline::{Batch, Ingestor, Item, Metrics};
use store::Store;

/// Records per seeding batch.
const SEED_BATCH: usize = 5_000;
/// Timed batches per size.
const BATCHES: usize = 50;
/// Records per timed batch.
const BATCH_RECORDS: usize = 20;

fn instance_call(instance: u64, second: u64, address: &str, event: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "eventTime": format!("2026-11-30T10:{:02}:{:02}Z", second / 60, second % 60),
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "us-east-1", "sourceIPAddress": address,
        "userAgent": "aws-sdk-go/1.44.0", "eventID": event,
        "userIdentity": {"type": "AssumedRole", "accountId": "123456789012",
            "arn": format!("arn:aws:sts::123456789012:assumed-role/web/i-{instance:017x}")}
    })
}

fn gzip(records: &[serde_json::Value]) -> Vec<u8> {
    let body = serde_json::json!({ "Records": records }).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn batch(name: String, records: &[serde_json::Value]) -> Batch {
    Batch {
        source: "bench".to_owned(),
        items: vec![Item {
            name: name.clone(),
            bytes: gzip(records),
        }],
        checkpoint: Some(name),
        held: Default::default(),
    }
}

/// The instance's own address: each session's first use, within its own network.
fn own_address(instance: u64) -> String {
    format!(
        "10.{}.{}.{}",
        (instance >> 16) & 255,
        (instance >> 8) & 255,
        instance & 255
    )
}

struct Timing {
    seed_seconds: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
}

async fn measure(store: Store, sessions: u64) -> Timing {
    let route: pipeline::Route = Arc::new(|_| vec!["bench".to_owned()]);
    let mut ingestor = Ingestor::open(
        store.clone(),
        Default::default(),
        route,
        Arc::new(Metrics::default()),
    )
    .await
    .unwrap();
    let seeding = Instant::now();
    let ids: Vec<u64> = (0..sessions).collect();
    for (number, chunk) in ids.chunks(SEED_BATCH).enumerate() {
        let records: Vec<serde_json::Value> = chunk
            .iter()
            .map(|&id| instance_call(id, 0, &own_address(id), &format!("seed-{id}")))
            .collect();
        ingestor
            .ingest(&batch(format!("seed-{number}"), &records))
            .await
            .unwrap();
    }
    let seed_seconds = seeding.elapsed().as_secs_f64();
    assert_eq!(store.detector_size().await.unwrap().0, sessions);

    let mut times = Vec::with_capacity(BATCHES);
    for number in 0..BATCHES as u64 {
        let records: Vec<serde_json::Value> = (0..BATCH_RECORDS as u64)
            .map(|n| {
                let at = 30 + number;
                let event = format!("timed-{number}-{n}");
                if n % 2 == 0 && sessions > 0 {
                    // A tracked session's next call, from its own address.
                    let id = (number * 7919 + n * 104_729) % sessions;
                    instance_call(id, at, &own_address(id), &event)
                } else {
                    let id = 1_000_000_000 + number * 100 + n;
                    instance_call(id, at, &own_address(id), &event)
                }
            })
            .collect();
        let timed = batch(format!("timed-{number}"), &records);
        let started = Instant::now();
        ingestor.ingest(&timed).await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let mean_ms = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(f64::total_cmp);
    Timing {
        seed_seconds,
        mean_ms,
        p50_ms: times[times.len() / 2],
        p90_ms: times[times.len() * 9 / 10],
    }
}

/// Empties the PostgreSQL database so that each size starts from nothing.
async fn fresh_postgres(url: &str) -> Store {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("CREATE SCHEMA public")
        .execute(&mut connection)
        .await
        .unwrap();
    Store::connect(url).await.unwrap()
}

fn main() {
    let sizes: Vec<u64> = std::env::var("TRIPKEY_BENCH_SIZES")
        .unwrap_or_else(|_| "0,10000,100000".to_owned())
        .split(',')
        .map(|size| {
            size.trim()
                .parse()
                .expect("TRIPKEY_BENCH_SIZES: numbers, e.g. 0,10000")
        })
        .collect();
    let postgres = std::env::var("TRIPKEY_BENCH_DATABASE_URL").ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:<9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "backend", "sessions", "seed s", "mean ms", "p50 ms", "p90 ms", "ratio"
    );
    let mut backends = vec!["sqlite"];
    if postgres.is_some() {
        backends.push("postgres");
    }
    for backend in backends {
        let mut base: Option<f64> = None;
        for &sessions in &sizes {
            let folder = tempfile::tempdir().unwrap();
            let timing = runtime.block_on(async {
                let store = match (backend, &postgres) {
                    ("postgres", Some(url)) => fresh_postgres(url).await,
                    _ => Store::open(folder.path().join("bench.db")).await.unwrap(),
                };
                measure(store, sessions).await
            });
            let base = *base.get_or_insert(timing.mean_ms);
            println!(
                "{backend:<9} {sessions:>9} {:>8.1} {:>9.2} {:>9.2} {:>9.2} {:>7.2}x",
                timing.seed_seconds,
                timing.mean_ms,
                timing.p50_ms,
                timing.p90_ms,
                timing.mean_ms / base
            );
        }
    }
}
