//! A real server on a loopback port over a real SQLite store with the offline issuer, and
//! tokens of every kind, for the HTTP tests.

#![allow(dead_code)] // Each test crate uses its own part of the support.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use keys::AccountId;
use pipeline::{Ingestor, Metrics};
use serde_json::json;
use store::{AlertRow, BatchCommit, CanaryKind, NewApiToken, Store};

/// The offline issuer's account.
pub const ACCOUNT: &str = "111122223333";

/// A running server and what the tests need of it.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its store, for setting up and checking state.
    pub store: Store,
    /// A token of each kind, by name: admin, viewer, issuer, other-issuer, ingest, expired,
    /// revoked, and wrong (never issued).
    pub tokens: BTreeMap<&'static str, String>,
    _folder: tempfile::TempDir,
}

fn labels(pairs: &[(&str, &str)]) -> store::Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl TestServer {
    /// Starts a server with `sinks` that throttles after `failures_allowed` failed logins.
    pub async fn start(sinks: Vec<Arc<dyn notify::Sink>>, failures_allowed: u32) -> TestServer {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
        let account: AccountId = ACCOUNT.parse().unwrap();
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
        let (engine, _task) =
            pipeline::spawn_engine(ingestor, Arc::new(tokio::sync::Notify::new()));
        let app = server::router(
            server::AppState {
                engine,
                store: store.clone(),
                metrics,
                ingest_source: "http".to_owned(),
                api: server::api::ApiState {
                    store: store.clone(),
                    issuers,
                    settings: registry::Settings::default(),
                    throttle: Arc::new(server::api::auth::AuthThrottle::new(failures_allowed)),
                    region: "eu-west-1".to_owned(),
                    sinks: Arc::new(sinks),
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

        let mut tokens = BTreeMap::new();
        let now = store::now();
        for (name, scopes, pinned, allowed, expires_at) in [
            ("admin", &["admin"][..], labels(&[]), labels(&[]), None),
            ("viewer", &["viewer"][..], labels(&[]), labels(&[]), None),
            (
                "issuer",
                &["issuer"][..],
                labels(&[("team", "platform")]),
                labels(&[("host", "laptop-*"), ("owner", "*")]),
                None,
            ),
            (
                "other-issuer",
                &["issuer"][..],
                labels(&[]),
                labels(&[("host", "*")]),
                None,
            ),
            ("ingest", &["ingest"][..], labels(&[]), labels(&[]), None),
            (
                "expired",
                &["admin"][..],
                labels(&[]),
                labels(&[]),
                Some(now.offset(-1)),
            ),
            ("revoked", &["admin"][..], labels(&[]), labels(&[]), None),
        ] {
            let (token, digest) = server::tokens::generate();
            store
                .create_api_token(&NewApiToken {
                    name,
                    sha256_hex: &digest,
                    scopes,
                    pinned_labels: pinned,
                    allowed_labels: allowed,
                    created_at: now.offset(-10),
                    expires_at,
                })
                .await
                .unwrap();
            tokens.insert(name, token);
        }
        store.revoke_api_token("revoked", now).await.unwrap();
        tokens.insert("wrong", "tk_not-a-token-anyone-was-given".to_owned());
        TestServer {
            address,
            store,
            tokens,
            _folder: folder,
        }
    }

    /// `http://ADDRESS{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Commits a canary-use alert about `canary` whose user agent and principal are
    /// `user_agent` and `principal`, as a batch from a source would.
    pub async fn add_alert(
        &self,
        dedup_key: &str,
        canary: &str,
        user_agent: &str,
        principal: &str,
    ) {
        let body = json!({"dedup_key": dedup_key, "rule": "canary-use", "severity": "critical",
            "status": "final", "summary": format!("canary {canary} used by {principal}"),
            "event_time": "2026-12-04T10:00:00Z",
            "event_name": "GetCallerIdentity", "event_source": "sts.amazonaws.com",
            "region": "us-east-1", "user_agent": user_agent, "principal": principal,
            "source_ip": "203.0.113.9", "access_key_id": "AKIAEXAMPLE",
            "details": {"kind": "canary", "canary": canary, "matched_by": "access-key-id",
                        "labels": {}, "memo": null},
            "record": {"eventID": "e-1", "userAgent": user_agent}});
        self.store
            .commit_batch(&BatchCommit {
                source: "test",
                checkpoint: None,
                alerts: &[AlertRow {
                    dedup_key: dedup_key.to_owned(),
                    rule: "canary-use".to_owned(),
                    severity: "critical".to_owned(),
                    status: "final".to_owned(),
                    withdrawn_because: None,
                    replaces: Vec::new(),
                    summary: format!("canary {canary} used by {principal}"),
                    event_time: store::now().offset(-2_000),
                    limit_key: canary.to_owned(),
                    body: body.to_string(),
                    sinks: Vec::new(),
                    canary: Some(canary.to_owned()),
                    suppressed_by: None,
                }],
                at: store::now(),
            })
            .await
            .unwrap();
    }
}
