//! The `/api/v1` benchmark (run by `benches/api.sh`): the offline issuer behind a real
//! listener on loopback, 4 concurrent clients. It issues 10,000 canaries through the API
//! (the issuing rate), adds 10,000 alerts, then pages through canaries by label and alerts by
//! state, reporting p50 and p99 of the first page, of pages reached through `cursor`, and of
//! the last page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keys::AccountId;
use pipeline::{Ingestor, Metrics};
use serde_json::{json, Value};
use store::{AlertRow, BatchCommit, CanaryKind, NewApiToken, Store};

const CANARIES: usize = 10_000;
const ALERTS: usize = 10_000;
const CLIENTS: usize = 4;
const HOSTS: usize = 100;
const ROUNDS: usize = 25;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {name:<44} {:>6} requests  p50 {:>7.2} ms  p99 {:>7.2} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

async fn start(store: Store) -> SocketAddr {
    let account: AccountId = "111122223333".parse().unwrap();
    let mut issuers = registry::IssuerSet::new();
    issuers.add(registry::SharedIssuer::new(
        registry::OfflineIssuer::new(account),
        account,
        CanaryKind::ALL.to_vec(),
    ));
    let metrics = Arc::new(Metrics::default());
    let ingestor = Ingestor::open(
        store.clone(),
        Default::default(),
        Arc::new(|_| Vec::new()),
        metrics.clone(),
    )
    .await
    .unwrap();
    let (engine, _task) = pipeline::spawn_engine(ingestor, Arc::new(tokio::sync::Notify::new()));
    let app = server::router(
        server::AppState {
            engine,
            store: store.clone(),
            metrics,
            ingest_source: "http".to_owned(),
            api: server::api::ApiState {
                store,
                issuers,
                settings: registry::Settings::default(),
                throttle: Default::default(),
                region: "us-east-1".to_owned(),
                sinks: Default::default(),
                engine: None,
            },
            open_metrics: false,
            budget: pipeline::MemoryBudget::new(pipeline::DEFAULT_MEMORY_BUDGET),
        },
        1_000_000,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    address
}

/// Follows `next_cursor` from `first` to the end; the latency of each page, in order.
async fn walk(client: &reqwest::Client, token: &str, first: &str) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut url = first.to_owned();
    loop {
        let started = Instant::now();
        let page: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        latencies.push(started.elapsed());
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{first}&cursor={cursor}"),
            None => return latencies,
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
        let (token, digest) = server::tokens::generate();
        store
            .create_api_token(&NewApiToken {
                name: "bench",
                sha256_hex: &digest,
                scopes: &["admin"],
                pinned_labels: Default::default(),
                allowed_labels: Default::default(),
                created_at: store::now(),
                expires_at: None,
            })
            .await
            .unwrap();
        let address = start(store.clone()).await;
        let client = reqwest::Client::new();
        let token = Arc::new(token);
        println!("tripkey API benchmark: offline issuer, SQLite, {CLIENTS} concurrent clients, 2 cores");

        let started = Instant::now();
        let mut issuing = Vec::new();
        for client_index in 0..CLIENTS {
            let (client, token) = (client.clone(), token.clone());
            issuing.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (client_index..CANARIES).step_by(CLIENTS) {
                    let begun = Instant::now();
                    let answer = client
                        .post(format!("http://{address}/api/v1/canaries"))
                        .bearer_auth(token.as_str())
                        .json(&json!({"kind": "federation", "labels": {"host": format!("laptop-{}", i % HOSTS)}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 201);
                    latencies.push(begun.elapsed());
                }
                latencies
            }));
        }
        let mut issue_latencies = Vec::new();
        for task in issuing {
            issue_latencies.extend(task.await.unwrap());
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "\n  issued {CANARIES} canaries in {seconds:.2} s: {:.0} canaries/s (target >= 500/s)",
            CANARIES as f64 / seconds
        );
        row("POST /api/v1/canaries", issue_latencies);

        let now = store::now();
        for batch in 0..ALERTS / 500 {
            let alerts: Vec<AlertRow> = (0..500)
                .map(|i| {
                    let n = batch * 500 + i;
                    let key = format!("canary-use:bench-{n}:e-{n}");
                    AlertRow {
                        dedup_key: key.clone(),
                        rule: "canary-use".to_owned(),
                        severity: "critical".to_owned(),
                        status: "final".to_owned(),
                        withdrawn_because: None,
                        replaces: Vec::new(),
                        summary: "used".to_owned(),
                        event_time: now,
                        limit_key: format!("bench-{n}"),
                        body: json!({"dedup_key": key, "rule": "canary-use",
                            "severity": "critical", "status": "final", "summary": "used",
                            "event_time": "2026-12-04T10:00:00Z", "event_name": "GetCallerIdentity",
                            "event_source": "sts.amazonaws.com", "region": "us-east-1",
                            "details": {"kind": "canary", "canary": format!("bench-{n}"),
                                        "matched_by": "access-key-id", "labels": {}, "memo": null},
                            "record": {"eventID": format!("e-{n}")}})
                        .to_string(),
                        sinks: Vec::new(),
                        canary: None,
                        suppressed_by: None,
                    }
                })
                .collect();
            store
                .commit_batch(&BatchCommit {
                    source: "bench",
                    checkpoint: None,
                    alerts: &alerts,
                    at: now.offset(batch as i64),
                })
                .await
                .unwrap();
        }

        let mut walks = Vec::new();
        for client_index in 0..CLIENTS {
            let (client, token) = (client.clone(), token.clone());
            walks.push(tokio::spawn(async move {
                let (mut firsts, mut deeper, mut lasts) = (Vec::new(), Vec::new(), Vec::new());
                let (mut alert_firsts, mut alert_deeper, mut alert_lasts) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    let host = (client_index * ROUNDS + round) % HOSTS;
                    let canaries = walk(
                        &client,
                        &token,
                        &format!("http://{address}/api/v1/canaries?label=host:laptop-{host}&limit=100"),
                    )
                    .await;
                    let all = walk(&client, &token, &format!("http://{address}/api/v1/canaries?limit=100")).await;
                    firsts.push(canaries[0]);
                    firsts.push(all[0]);
                    deeper.extend(&all[1..all.len() - 1]);
                    lasts.push(*all.last().unwrap());
                    if round % 5 == 0 {
                        let alerts = walk(&client, &token, &format!("http://{address}/api/v1/alerts?state=open&limit=100")).await;
                        alert_firsts.push(alerts[0]);
                        alert_deeper.extend(&alerts[1..alerts.len() - 1]);
                        alert_lasts.push(*alerts.last().unwrap());
                    }
                }
                (firsts, deeper, lasts, alert_firsts, alert_deeper, alert_lasts)
            }));
        }
        let mut results: [Vec<Duration>; 6] = Default::default();
        for task in walks {
            let (a, b, c, d, e, f) = task.await.unwrap();
            for (slot, samples) in results.iter_mut().zip([a, b, c, d, e, f]) {
                slot.extend(samples);
            }
        }
        println!("\n  lists of {CANARIES} canaries and {ALERTS} alerts, limit=100 (target p99 < 50 ms on every page):");
        let [a, b, c, d, e, f] = results;
        row("GET /canaries?label=… and ?limit=100, page 1", a);
        row("GET /canaries, pages 2..99 through cursor", b);
        row("GET /canaries, last page", c);
        row("GET /alerts?state=open, page 1", d);
        row("GET /alerts?state=open, pages 2..99", e);
        row("GET /alerts?state=open, last page", f);
    });
}
