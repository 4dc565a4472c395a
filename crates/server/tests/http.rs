//! The HTTP endpoints on a real socket, over a real SQLite store: tokens, ingest committed
//! exactly once, health and metrics.

use std::sync::Arc;

use pipeline::{Ingestor, Metrics};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 request; returns the status and the body.
async fn request(address: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let text = exchange(address, head, body).await;
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// One HTTP/1.1 request; returns the whole response as text.
async fn exchange(address: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let message = format!(
        "{head}\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(message.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

fn denial(second: u32) -> Value {
    json!({
        "version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "detail": {
            "eventVersion": "1.09", "eventTime": format!("2026-11-30T10:00:{second:02}Z"),
            "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9", "errorCode": "AccessDenied",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/probe",
                "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLEEXAMPLE12"},
            "eventID": format!("deny-{second}")
        }
    })
}

fn new_token<'a>(name: &'a str, digest: &'a str, scopes: &'a [&'a str]) -> store::NewApiToken<'a> {
    store::NewApiToken {
        name,
        sha256_hex: digest,
        scopes,
        pinned_labels: Default::default(),
        allowed_labels: Default::default(),
        created_at: store::now(),
        expires_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_needs_a_token_and_commits_each_alert_once() {
    let folder = tempfile::tempdir().unwrap();
    let store = store::Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap();
    let (token, digest) = server::tokens::generate();
    store
        .create_api_token(&new_token("forwarder", &digest, &["ingest"]))
        .await
        .unwrap();
    let (reader, reader_digest) = server::tokens::generate();
    store
        .create_api_token(&new_token("dashboard", &reader_digest, &["viewer"]))
        .await
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let ingestor = Ingestor::open(
        store.clone(),
        Default::default(),
        Arc::new(|_| vec!["hook".to_owned()]),
        metrics.clone(),
    )
    .await
    .unwrap();
    let (engine, _task) = pipeline::spawn_engine(ingestor, Arc::new(tokio::sync::Notify::new()));
    let budget = pipeline::MemoryBudget::new(4 * 1024 * 1024);
    let app = server::router(
        server::AppState {
            engine,
            store: store.clone(),
            metrics,
            ingest_source: "http".to_owned(),
            api: server::api::ApiState {
                store: store.clone(),
                issuers: registry::IssuerSet::new(),
                settings: registry::Settings::default(),
                throttle: Default::default(),
                region: "us-east-1".to_owned(),
                sinks: Default::default(),
                engine: None,
            },
            open_metrics: false,
            budget: budget.clone(),
        },
        1_000_000,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let events: Vec<Value> = (0..6).map(|s| denial(s * 5)).collect();
    let body = serde_json::to_vec(&events).unwrap();
    let (status, answer) = request(address, "POST /ingest HTTP/1.1", &body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("tripkey token create"), "{answer}");
    let wrong = format!("POST /ingest HTTP/1.1\r\nAuthorization: Bearer {reader}");
    assert_eq!(
        request(address, &wrong, &body).await.0,
        401,
        "a token without the ingest scope"
    );

    let authorised = format!("POST /ingest HTTP/1.1\r\nAuthorization: Bearer {token}");
    let (status, answer) = request(address, &authorised, &body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["records"], 6);
    assert_eq!(
        answer["new_alerts"].as_array().unwrap().len(),
        1,
        "{answer}"
    );

    let (status, again) = request(address, &authorised, &body).await;
    assert_eq!(status, 200);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        again["new_alerts"],
        json!([]),
        "a retried POST alerts no more"
    );

    let (status, answer) = request(address, &authorised, b"this is not CloudTrail").await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("no CloudTrail record"), "{answer}");

    // Input already in flight fills the memory budget: the body is refused unread, with a
    // time to come back, and accepted once the budget has room again.
    let in_flight = budget.try_hold(budget.total() - 1024).unwrap();
    assert_eq!(budget.in_use(), budget.total() - 1024);
    let busy = exchange(address, &authorised, &body).await;
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(
        busy.to_ascii_lowercase().contains("\r\nretry-after: 5\r\n"),
        "{busy}"
    );
    assert!(busy.contains("memory_budget"), "{busy}");
    drop(in_flight);
    let (status, answer) = request(address, &authorised, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(budget.in_use(), 0, "a committed body gives its bytes back");

    let (status, refused) = request(address, "GET /metrics HTTP/1.1", b"").await;
    assert_eq!(status, 401, "metrics need a viewer token: {refused}");
    let (status, _) = request(address, "GET /status HTTP/1.1", b"").await;
    assert_eq!(status, 401);
    let (status, _) = request(
        address,
        &format!("GET /metrics HTTP/1.1\r\nAuthorization: Bearer {token}"),
        b"",
    )
    .await;
    assert_eq!(status, 403, "an ingest token reads no metrics");
    let viewer = |path: &str| format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {reader}");
    let (status, metrics) = request(address, &viewer("/metrics"), b"").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tripkey_source_records_total{source=\"http\"} 18"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tripkey_ingest_refused_busy_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tripkey_memory_budget_bytes 4194304"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tripkey_alerts_total{rule=\"access-denied-burst\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tripkey_outbox_depth{sink=\"hook\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tripkey_api_throttled_total 0"),
        "{metrics}"
    );

    let (status, health) = request(address, "GET /healthz HTTP/1.1", b"").await;
    assert_eq!(status, 200);
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    let (status, report) = request(address, &viewer("/status"), b"").await;
    assert_eq!(status, 200);
    let report: pipeline::Report = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report.sources["http"].records, 18,
        "the live counters, as JSON"
    );
    assert_eq!(report.outbox_depth(), 1);
}
