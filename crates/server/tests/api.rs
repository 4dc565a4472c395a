//! `/api/v1` on a real socket over a real SQLite store with the offline issuer: every route
//! against every scope, label pinning, idempotency, paging, bad input, and the audit log.

mod support;

use std::sync::Arc;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use store::{AlertRow, BatchCommit, Store};

use support::{TestServer, ACCOUNT};

/// A server and a client without cookies that speaks to it.
struct Api {
    server: TestServer,
    client: Client,
}

impl std::ops::Deref for Api {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl Api {
    async fn start() -> Api {
        Api::start_with(Vec::new(), server::api::auth::DEFAULT_FAILURES_ALLOWED).await
    }

    async fn start_with(sinks: Vec<Arc<dyn notify::Sink>>, failures_allowed: u32) -> Api {
        Api {
            server: TestServer::start(sinks, failures_allowed).await,
            client: Client::new(),
        }
    }

    async fn call(
        &self,
        who: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.address));
        if let Some(token) = self.tokens.get(who) {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    async fn issue(&self, who: &str, body: Value) -> Value {
        let (status, answer) = self
            .call(who, Method::POST, "/api/v1/canaries", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer
    }

    async fn audit_actions(&self) -> Vec<(String, String, String)> {
        self.store
            .audit_log(None, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| {
                (
                    entry.actor,
                    entry.action,
                    serde_json::to_value(entry.outcome)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    }

    async fn add_alert(&self, dedup_key: &str, canary: &str) {
        self.add_alert_suppressed(dedup_key, canary, None).await;
    }

    /// An alert as serve would have committed it, suppressed by `suppressed_by` if given.
    async fn add_alert_suppressed(
        &self,
        dedup_key: &str,
        canary: &str,
        suppressed_by: Option<&str>,
    ) {
        let body = json!({"dedup_key": dedup_key, "rule": "canary-use", "severity": "critical",
            "status": "final", "summary": "used", "event_time": "2026-12-04T10:00:00Z",
            "event_name": "GetCallerIdentity", "event_source": "sts.amazonaws.com",
            "region": "us-east-1", "user_agent": "<script>",
            "details": {"kind": "canary", "canary": canary, "matched_by": "access-key-id",
                        "labels": {}, "memo": null},
            "record": {"eventID": "e-1", "userAgent": "<script>"}});
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
                    summary: "used".to_owned(),
                    event_time: store::now(),
                    limit_key: canary.to_owned(),
                    body: body.to_string(),
                    sinks: Vec::new(),
                    canary: Some(canary.to_owned()),
                    suppressed_by: suppressed_by.map(str::to_owned),
                }],
                at: store::now(),
            })
            .await
            .unwrap();
    }
}

fn has_secret(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, value)| {
            ((key == "secret_access_key" || key == "session_token" || key == "token")
                && value.is_string())
                || has_secret(value)
        }),
        Value::Array(items) => items.iter().any(has_secret),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_allows_and_denies_by_scope_and_audits_every_mutating_attempt() {
    let api = Api::start().await;
    let admins = api
        .issue(
            "admin",
            json!({"kind": "iam-user", "labels": {"owner": "secops"}}),
        )
        .await;
    let own = api
        .issue(
            "issuer",
            json!({"kind": "federation", "labels": {"host": "laptop-42"}}),
        )
        .await;
    let admins_id = admins["canary"]["id"].as_str().unwrap().to_owned();
    let own_id = own["canary"]["id"].as_str().unwrap().to_owned();
    let own_name = own["canary"]["name"].as_str().unwrap().to_owned();
    api.add_alert("canary-use:x:e-1", &own_name).await;

    // (who, method, path, body, expected status)
    let ok = StatusCode::OK;
    let created = StatusCode::CREATED;
    let (unauth, forbidden) = (StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN);
    let cases: Vec<(&str, Method, String, Option<Value>, StatusCode)> = vec![
        ("viewer", Method::GET, "/api/v1/canaries".into(), None, ok),
        ("issuer", Method::GET, "/api/v1/canaries".into(), None, ok),
        (
            "ingest",
            Method::GET,
            "/api/v1/canaries".into(),
            None,
            forbidden,
        ),
        ("none", Method::GET, "/api/v1/canaries".into(), None, unauth),
        (
            "wrong",
            Method::GET,
            "/api/v1/canaries".into(),
            None,
            unauth,
        ),
        (
            "expired",
            Method::GET,
            "/api/v1/canaries".into(),
            None,
            unauth,
        ),
        (
            "revoked",
            Method::GET,
            "/api/v1/canaries".into(),
            None,
            unauth,
        ),
        (
            "viewer",
            Method::GET,
            format!("/api/v1/canaries/{admins_id}"),
            None,
            ok,
        ),
        (
            "issuer",
            Method::GET,
            format!("/api/v1/canaries/{own_id}"),
            None,
            ok,
        ),
        (
            "issuer",
            Method::GET,
            format!("/api/v1/canaries/{admins_id}"),
            None,
            forbidden,
        ),
        (
            "other-issuer",
            Method::GET,
            format!("/api/v1/canaries/{own_id}"),
            None,
            forbidden,
        ),
        (
            "viewer",
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({})),
            forbidden,
        ),
        (
            "ingest",
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({})),
            forbidden,
        ),
        (
            "none",
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({})),
            unauth,
        ),
        (
            "issuer",
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({"labels": {"host": "server-1"}})),
            forbidden,
        ),
        (
            "issuer",
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({"labels": {"team": "finance"}})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "viewer",
            Method::POST,
            format!("/api/v1/canaries/{admins_id}/revoke"),
            Some(json!({})),
            forbidden,
        ),
        (
            "issuer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/revoke"),
            Some(json!({})),
            forbidden,
        ),
        (
            "issuer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/renew"),
            None,
            ok,
        ),
        (
            "other-issuer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/renew"),
            None,
            forbidden,
        ),
        (
            "viewer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/renew"),
            None,
            forbidden,
        ),
        (
            "issuer",
            Method::POST,
            format!("/api/v1/canaries/{admins_id}/rotate"),
            None,
            forbidden,
        ),
        (
            "admin",
            Method::POST,
            format!("/api/v1/canaries/{admins_id}/rotate"),
            None,
            ok,
        ),
        (
            "issuer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/placements"),
            Some(json!({"host": "laptop-42", "path": "~/.aws/credentials"})),
            created,
        ),
        (
            "other-issuer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/placements"),
            Some(json!({"host": "x"})),
            forbidden,
        ),
        (
            "viewer",
            Method::POST,
            format!("/api/v1/canaries/{own_id}/placements"),
            Some(json!({"host": "x"})),
            forbidden,
        ),
        ("viewer", Method::GET, "/api/v1/alerts".into(), None, ok),
        (
            "issuer",
            Method::GET,
            "/api/v1/alerts".into(),
            None,
            forbidden,
        ),
        (
            "issuer",
            Method::GET,
            "/api/v1/alerts/canary-use:x:e-1".into(),
            None,
            forbidden,
        ),
        (
            "viewer",
            Method::GET,
            "/api/v1/alerts/canary-use:x:e-1".into(),
            None,
            ok,
        ),
        (
            "viewer",
            Method::POST,
            "/api/v1/alerts/canary-use:x:e-1/acknowledge".into(),
            Some(json!({"note": "x"})),
            forbidden,
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/alerts/canary-use:x:e-1/acknowledge".into(),
            Some(json!({"note": "on it"})),
            ok,
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/alerts/canary-use:x:e-1/resolve".into(),
            Some(json!({"note": "test key"})),
            ok,
        ),
        (
            "viewer",
            Method::GET,
            "/api/v1/tokens".into(),
            None,
            forbidden,
        ),
        ("admin", Method::GET, "/api/v1/tokens".into(), None, ok),
        (
            "viewer",
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"name": "x", "scopes": ["viewer"]})),
            forbidden,
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"name": "ci", "scopes": ["issuer"], "pinned_labels": {"team": "ci"}})),
            created,
        ),
        (
            "issuer",
            Method::DELETE,
            "/api/v1/tokens/ci".into(),
            None,
            forbidden,
        ),
        (
            "admin",
            Method::DELETE,
            "/api/v1/tokens/ci".into(),
            None,
            StatusCode::NO_CONTENT,
        ),
        ("viewer", Method::GET, "/api/v1/audit".into(), None, ok),
        ("issuer", Method::GET, "/api/v1/issuers".into(), None, ok),
        ("viewer", Method::GET, "/api/v1/sinks".into(), None, ok),
        (
            "issuer",
            Method::GET,
            "/api/v1/sinks".into(),
            None,
            forbidden,
        ),
        (
            "viewer",
            Method::POST,
            "/api/v1/sinks/hook/test".into(),
            None,
            forbidden,
        ),
        (
            "admin",
            Method::POST,
            "/api/v1/sinks/nowhere/test".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "ingest",
            Method::GET,
            "/api/v1/issuers".into(),
            None,
            forbidden,
        ),
        (
            "issuer",
            Method::GET,
            "/api/v1/audit".into(),
            None,
            forbidden,
        ),
        (
            "viewer",
            Method::POST,
            format!("/api/v1/canaries/{admins_id}/revoke"),
            Some(json!({"reason": "x"})),
            forbidden,
        ),
        (
            "admin",
            Method::POST,
            format!("/api/v1/canaries/{admins_id}/revoke"),
            Some(json!({"reason": "test over"})),
            ok,
        ),
    ];
    for (who, method, path, body, expected) in cases {
        let mutating = method != Method::GET;
        let before = api.audit_actions().await.len();
        let (status, answer) = api.call(who, method.clone(), &path, body).await;
        assert_eq!(status, expected, "{who} {method} {path}: {answer}");
        if !status.is_success() {
            assert!(
                answer["error"]["code"].is_string() && answer["error"]["message"].is_string(),
                "{who} {method} {path}: {answer}"
            );
        }
        let issues = method == Method::POST
            && (path == "/api/v1/canaries"
                || path.ends_with("/rotate")
                || path.ends_with("/renew"))
            && status.is_success();
        let makes_token = path == "/api/v1/tokens" && method == Method::POST && status.is_success();
        assert_eq!(
            has_secret(&answer),
            issues || makes_token,
            "{who} {method} {path} shows a secret only when it issues one: {answer}"
        );
        let after = api.audit_actions().await.len();
        assert_eq!(
            after,
            before + usize::from(mutating),
            "{who} {method} {path}: mutating calls are audited, reads are not"
        );
    }
    let audit = api.audit_actions().await;
    assert!(audit.contains(&("viewer".into(), "canary.revoke".into(), "denied".into())));
    assert!(audit.contains(&("anonymous".into(), "canary.create".into(), "denied".into())));
    assert!(audit.contains(&("admin".into(), "canary.revoke".into(), "allowed".into())));
    let log = api.store.audit_log(None, 1_000).await.unwrap();
    for entry in &log {
        let text = serde_json::to_string(entry).unwrap();
        for token in api.tokens.values() {
            assert!(
                !text.contains(token.as_str()),
                "no token in the audit log: {text}"
            );
        }
        assert!(!text.contains("secret_access_key"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_token_pins_its_labels_and_sees_only_its_own_canaries() {
    let api = Api::start().await;
    let issued = api
        .issue(
            "issuer",
            json!({"kind": "federation", "labels": {"host": "laptop-7", "owner": "ana"}}),
        )
        .await;
    assert_eq!(issued["canary"]["labels"]["team"], "platform", "{issued}");
    assert_eq!(issued["canary"]["labels"]["host"], "laptop-7");
    assert_eq!(issued["canary"]["issued_by"], "issuer");
    assert_eq!(issued["credentials"]["region"], "eu-west-1");
    let (_, issuers) = api
        .call("issuer", Method::GET, "/api/v1/issuers", None)
        .await;
    assert_eq!(issuers["issuers"][0]["account_id"], ACCOUNT, "{issuers}");
    assert_eq!(issuers["issuers"][0]["issuer"], "offline");
    assert_eq!(issuers["issuers"][0]["default"], true);
    assert_eq!(
        issuers["issuers"][0]["kinds"],
        json!(["iam-user", "federation", "role-session"])
    );
    assert!(issued["credentials"]["session_token"].is_string());
    api.issue("admin", json!({})).await;
    api.issue("other-issuer", json!({"labels": {"host": "x"}}))
        .await;

    let (_, mine) = api
        .call("issuer", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(mine["canaries"].as_array().unwrap().len(), 1, "{mine}");
    let (_, all) = api
        .call("viewer", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(all["canaries"].as_array().unwrap().len(), 3);
    let id = issued["canary"]["id"].as_str().unwrap();
    let (status, shown) = api
        .call(
            "issuer",
            Method::GET,
            &format!("/api/v1/canaries/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        shown["alerts"].is_null(),
        "an issuer reads no alerts: {shown}"
    );
    assert!(!has_secret(&shown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_issues_nothing_new_and_names_the_first_canary() {
    let api = Api::start().await;
    let send = || async {
        let response = api
            .client
            .post(format!("http://{}/api/v1/canaries", api.address))
            .bearer_auth(&api.tokens["admin"])
            .header("Idempotency-Key", "mdm-run-2026-12-04-laptop-42")
            .json(&json!({"kind": "iam-user"}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let (first, issued) = send().await;
    assert_eq!(first, StatusCode::CREATED);
    let (again, answer) = send().await;
    assert_eq!(again, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
    assert_eq!(answer["error"]["canary_id"], issued["canary"]["id"]);
    assert!(!has_secret(&answer));
    let (_, all) = api
        .call("admin", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(all["canaries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_answer_renders_the_asked_formats_and_suggests_profile_names() {
    let api = Api::start().await;
    let issued = api
        .issue(
            "admin",
            json!({"formats": ["kubernetes", "credentials-profile"], "profile": "ops-deploy"}),
        )
        .await;
    let key = issued["credentials"]["access_key_id"].as_str().unwrap();
    let rendered = issued["rendered"].as_array().unwrap();
    assert_eq!(rendered.len(), 2, "{issued}");
    assert_eq!(rendered[0]["format"], "kubernetes");
    let manifest = rendered[0]["text"].as_str().unwrap();
    assert!(manifest.contains("name: ops-deploy\n"), "{manifest}");
    assert!(manifest.contains(&format!("AWS_ACCESS_KEY_ID: \"{key}\"")));
    assert!(rendered[1]["text"]
        .as_str()
        .unwrap()
        .starts_with(&format!("[ops-deploy]\naws_access_key_id = {key}\n")));
    let suggestions = issued["profile_suggestions"].as_array().unwrap();
    assert!(suggestions.len() >= 4, "{issued}");
    for name in suggestions {
        let name = name.as_str().unwrap();
        assert!(placement::check_profile_name(name).is_ok(), "{name}");
        assert!(
            keys::check_name(name).is_empty(),
            "{name} looks like a canary"
        );
    }
    let plain = api.issue("admin", json!({})).await;
    assert!(
        plain.get("rendered").is_none(),
        "no formats asked, none rendered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_400_naming_the_field_and_creates_nothing() {
    let api = Api::start().await;
    let long_key = "k".repeat(129);
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("l{i}"), json!("v"))).collect();
    let cases = [
        (json!({"kind": "root-user"}), "kind"),
        (json!({"labels": {long_key.clone(): "v"}}), "labels"),
        (
            json!({"labels": {"owner": "v".repeat(257)}}),
            "labels.owner",
        ),
        (json!({"labels": many}), "labels"),
        (json!({"memo": "m".repeat(1025)}), "memo"),
        (json!({"account": "999988887777"}), "account"),
        (json!({"account": "not-an-account"}), "account"),
        (json!({"kind": "iam-user", "colour": "blue"}), "body"),
        (json!({"labels": ["host", "x"]}), "body"),
        (json!({"formats": ["yaml"]}), "formats"),
        (json!({"formats": ["env"], "profile": "a]b"}), "profile"),
    ];
    for (body, field) in cases {
        let (status, answer) = api
            .call(
                "admin",
                Method::POST,
                "/api/v1/canaries",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    for raw in [&b"{not json"[..], &b"\xff\xfe{}"[..], &b"[]"[..]] {
        let audited = api.audit_actions().await.len();
        let response = api
            .client
            .post(format!("http://{}/api/v1/canaries", api.address))
            .bearer_auth(&api.tokens["admin"])
            .header("content-type", "application/json")
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
        assert_eq!(
            api.audit_actions().await.len(),
            audited + 1,
            "a refused body is audited too"
        );
    }
    let (_, all) = api
        .call("admin", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(all["canaries"], json!([]), "nothing was issued");
    let (status, answer) = api
        .call("admin", Method::GET, "/api/v1/canaries?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = api
        .call(
            "admin",
            Method::GET,
            "/api/v1/canaries?cursor=garbage",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = api
        .call("admin", Method::GET, "/api/v1/nothing-here", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_cursor_to_the_end_with_every_canary_once() {
    let api = Api::start().await;
    for i in 0..23 {
        let host = if i % 2 == 0 {
            "laptop-even"
        } else {
            "laptop-odd"
        };
        api.issue(
            "admin",
            json!({"kind": "federation", "labels": {"host": host}}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/canaries?limit=5&label=host:laptop-even".to_owned();
    loop {
        let (status, page) = api.call("viewer", Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for canary in page["canaries"].as_array().unwrap() {
            assert_eq!(canary["labels"]["host"], "laptop-even");
            seen.push(canary["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/canaries?limit=5&label=host:laptop-even&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 12, "no canary twice");
    let name = {
        let (_, page) = api
            .call("viewer", Method::GET, "/api/v1/canaries?limit=1", None)
            .await;
        page["canaries"][0]["name"].as_str().unwrap().to_owned()
    };
    let (_, found) = api
        .call(
            "viewer",
            Method::GET,
            &format!("/api/v1/canaries?q={name}"),
            None,
        )
        .await;
    assert_eq!(found["canaries"].as_array().unwrap().len(), 1, "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_acknowledged_and_resolved_with_who_and_a_note() {
    let api = Api::start().await;
    let issued = api.issue("admin", json!({})).await;
    let name = issued["canary"]["name"].as_str().unwrap();
    let id = issued["canary"]["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            "admin",
            Method::POST,
            &format!("/api/v1/canaries/{id}/placements"),
            Some(json!({"host": "laptop-42", "path": "~/.aws/credentials", "format": "aws-credentials"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    api.add_alert("canary-use:a:e-9", name).await;
    let (_, shown) = api
        .call(
            "viewer",
            Method::GET,
            "/api/v1/alerts/canary-use:a:e-9",
            None,
        )
        .await;
    assert_eq!(shown["placements"][0]["host"], "laptop-42", "{shown}");
    let (_, open) = api
        .call("viewer", Method::GET, "/api/v1/alerts?state=open", None)
        .await;
    assert_eq!(open["alerts"].as_array().unwrap().len(), 1, "{open}");
    let (status, acknowledged) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/alerts/canary-use:a:e-9/acknowledge",
            Some(json!({"note": "looking"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(acknowledged["handling"]["state"], "acknowledged");
    assert_eq!(acknowledged["handling"]["by"], "admin");
    assert_eq!(acknowledged["handling"]["note"], "looking");
    assert_eq!(
        acknowledged["record"]["userAgent"], "<script>",
        "raw record, as data"
    );
    let (_, open) = api
        .call("viewer", Method::GET, "/api/v1/alerts?state=open", None)
        .await;
    assert_eq!(open["alerts"], json!([]));
    let id = issued["canary"]["id"].as_str().unwrap();
    let (_, shown) = api
        .call(
            "viewer",
            Method::GET,
            &format!("/api/v1/canaries/{id}"),
            None,
        )
        .await;
    assert_eq!(
        shown["alerts"][0]["dedup_key"], "canary-use:a:e-9",
        "{shown}"
    );
    let (status, _) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/alerts/nothing/resolve",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_alerts_moves_the_response_figures() {
    let api = Api::start().await;
    let figures = |days: &'static str| {
        let api = &api;
        async move {
            let (status, figures) = api
                .call(
                    "viewer",
                    Method::GET,
                    &format!("/api/v1/response?days={days}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{figures}");
            figures
        }
    };
    let empty = figures("30").await;
    assert_eq!(empty["alerts"], 0, "{empty}");
    assert_eq!(empty["time_to_detect"]["median_ms"], Value::Null);
    assert_eq!(empty["fidelity"], Value::Null);

    api.add_alert("canary-use:r:e-1", "svc-one").await;
    api.add_alert("canary-use:r:e-2", "svc-two").await;
    let (status, acknowledged) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/alerts/canary-use:r:e-1/acknowledge",
            Some(json!({"note": "looking"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    let handling = &acknowledged["handling"];
    assert!(handling["acknowledged_at"].is_string(), "{handling}");
    assert_eq!(handling["resolved_at"], Value::Null);
    assert_eq!(handling["false_positive"], false);
    let after_acknowledging = figures("30").await;
    assert_eq!(after_acknowledging["alerts"], 2, "{after_acknowledging}");
    assert_eq!(after_acknowledging["time_to_acknowledge"]["count"], 1);
    assert!(after_acknowledging["time_to_acknowledge"]["median_ms"].is_i64());
    assert_eq!(after_acknowledging["time_to_resolve"]["count"], 0);

    for (key, false_positive) in [("canary-use:r:e-1", false), ("canary-use:r:e-2", true)] {
        let (status, resolved) = api
            .call(
                "admin",
                Method::POST,
                &format!("/api/v1/alerts/{key}/resolve"),
                Some(json!({"note": "done", "false_positive": false_positive})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{resolved}");
        assert_eq!(resolved["handling"]["state"], "resolved");
        assert_eq!(resolved["handling"]["false_positive"], false_positive);
        assert!(
            resolved["handling"]["resolved_at"].is_string(),
            "{resolved}"
        );
        assert!(
            resolved["handling"]["acknowledged_at"].is_string(),
            "resolving counts as acknowledging: {resolved}"
        );
    }
    let resolved = figures("30").await;
    assert_eq!(resolved["time_to_acknowledge"]["count"], 2, "{resolved}");
    assert_eq!(resolved["time_to_resolve"]["count"], 2);
    assert_eq!(resolved["resolved"], 2);
    assert_eq!(resolved["false_positives"], 1);
    assert_eq!(resolved["fidelity"], 0.5);
    assert!(
        resolved["time_to_resolve"]["median_ms"].as_i64().unwrap()
            <= resolved["time_to_resolve"]["p90_ms"].as_i64().unwrap()
    );
    let audit = api.store.audit_log(None, 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "alert.resolve" && entry.detail["false_positive"] == true),
        "the audit log says it was called a false positive"
    );

    for bad in ["0", "367", "x", "-1"] {
        let (status, answer) = api
            .call(
                "viewer",
                Method::GET,
                &format!("/api/v1/response?days={bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "days={bad}: {answer}");
    }
    let (status, _) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/alerts/canary-use:r:e-1/resolve",
            Some(json!({"false_positive": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_authentication_is_answered_429() {
    let api = Api::start().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            api.call("wrong", Method::GET, "/api/v1/canaries", None)
                .await
                .0,
        );
    }
    let metrics = api
        .client
        .get(format!("http://{}/metrics", api.address))
        .bearer_auth(&api.tokens["viewer"])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tripkey_api_auth_failures_total 3\n"),
        "failures are counted in /metrics: {metrics}"
    );
    for _ in 0..9 {
        statuses.push(
            api.call("wrong", Method::GET, "/api/v1/canaries", None)
                .await
                .0,
        );
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(
        *statuses.last().unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "{statuses:?}"
    );
    let (status, _) = api
        .call("admin", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a valid token from the same address is still served"
    );
    let (status, _) = api
        .call("none", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no token is no guess: a plain 401"
    );
    let (status, _) = api
        .call("wrong", Method::GET, "/api/v1/canaries", None)
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser still waits"
    );
}

#[tokio::test]
async fn the_first_start_makes_one_admin_token_and_a_supplied_one_is_recorded() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let made = server::api::tokens::ensure_admin(&store, None)
        .await
        .unwrap();
    let made = made.expect("a token on the first start");
    assert!(made.starts_with(server::tokens::PREFIX));
    assert_eq!(
        server::api::tokens::ensure_admin(&store, None)
            .await
            .unwrap(),
        None
    );
    let supplied = "tk_operator-supplied-admin-token-0123456789";
    assert_eq!(
        server::api::tokens::ensure_admin(&store, Some(supplied))
            .await
            .unwrap(),
        None
    );
    let found = store
        .use_api_token(&server::tokens::digest(supplied), store::now())
        .await
        .unwrap()
        .unwrap();
    assert!(found.allows("admin", store::now()));
    let stored = std::fs::read(folder.path().join("tripkey.db")).unwrap();
    assert!(
        !stored.windows(made.len()).any(|w| w == made.as_bytes()),
        "only the digest is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_covers_every_route_with_its_errors_and_security() {
    let api = Api::start().await;
    let (status, doc) = api
        .call("none", Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = [
        ("/api/v1/canaries", vec!["get", "post"]),
        ("/api/v1/canaries/{id}", vec!["get"]),
        ("/api/v1/canaries/{id}/rotate", vec!["post"]),
        ("/api/v1/canaries/{id}/renew", vec!["post"]),
        ("/api/v1/canaries/{id}/revoke", vec!["post"]),
        ("/api/v1/canaries/{id}/placements", vec!["post"]),
        (
            "/api/v1/canaries/{id}/placements/{placement}",
            vec!["delete"],
        ),
        ("/api/v1/alerts", vec!["get"]),
        ("/api/v1/alerts/{dedup_key}", vec!["get"]),
        ("/api/v1/alerts/{dedup_key}/acknowledge", vec!["post"]),
        ("/api/v1/alerts/{dedup_key}/resolve", vec!["post"]),
        ("/api/v1/suppressions", vec!["get", "post"]),
        ("/api/v1/suppressions/{id}", vec!["delete"]),
        ("/api/v1/response", vec!["get"]),
        ("/api/v1/tokens", vec!["get", "post"]),
        ("/api/v1/tokens/{name}", vec!["delete"]),
        ("/api/v1/audit", vec!["get"]),
        ("/api/v1/issuers", vec!["get"]),
        ("/api/v1/sinks", vec!["get"]),
        ("/api/v1/sinks/{name}/test", vec!["post"]),
        ("/api/v1/sources/unreadable", vec!["get"]),
        ("/api/v1/sources/retry", vec!["post"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        routes.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in routes {
        for method in methods {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is described");
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}]),
                "{method} {path}"
            );
            for status in ["401", "403"] {
                assert_eq!(
                    operation["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "ErrorBody",
        "ErrorCode",
        "IssuedCanary",
        "CanaryRecord",
        "CanaryPage",
        "AuditEntry",
        "AlertView",
        "Alert",
        "Details",
        "ResponseFigures",
        "Durations",
        "ResolveBody",
    ] {
        assert!(
            schemas.contains_key(schema),
            "{schema} in {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_reports_its_health_and_takes_a_test_notification() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("alerts.jsonl");
    let spec: notify::SinkSpec = serde_json::from_value(json!({
        "name": "archive", "type": "json-lines", "path": file
    }))
    .unwrap();
    let sink: Arc<dyn notify::Sink> = Arc::from(notify::build_sink(&spec).unwrap());
    let api = Api::start_with(vec![sink], server::api::auth::DEFAULT_FAILURES_ALLOWED).await;
    let (status, listed) = api.call("viewer", Method::GET, "/api/v1/sinks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["sinks"][0]["name"], "archive", "{listed}");
    assert_eq!(listed["sinks"][0]["state"], "ok");
    assert_eq!(listed["sinks"][0]["configured"], true);
    let (status, tested) = api
        .call("admin", Method::POST, "/api/v1/sinks/archive/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["delivered"], true, "{tested}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(tested["dedup_key"].as_str().unwrap()),
        "the sample alert reached the sink: {written}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_objects_are_listed_and_taken_out_of_quarantine() {
    let api = Api::start().await;
    let at = store::EventTime::parse("2026-12-04T10:00:00Z").unwrap();
    for (key, quarantine_after) in [("AWSLogs/a.json.gz", 1), ("AWSLogs/b.json.gz", 5)] {
        api.store
            .record_source_failure(
                "trail",
                key,
                "AccessDenied <kms>",
                at,
                at.offset(60_000),
                quarantine_after,
            )
            .await
            .unwrap();
    }
    let (status, listed) = api
        .call("viewer", Method::GET, "/api/v1/sources/unreadable", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let objects = listed["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2, "{listed}");
    assert_eq!(objects[0]["key"], "AWSLogs/a.json.gz");
    assert_eq!(objects[0]["state"], "quarantined");
    assert_eq!(objects[0]["next_attempt_at"], Value::Null);
    assert_eq!(objects[0]["last_error"], "AccessDenied <kms>");
    assert_eq!(objects[1]["state"], "retrying");
    assert_eq!(objects[1]["next_attempt_at"], "2026-12-04T10:01:00Z");

    let (status, retried) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/sources/retry",
            Some(json!({"source": "other"})),
        )
        .await;
    assert_eq!(
        (status, retried["retried"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let (status, retried) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/sources/retry",
            Some(json!({"source": "trail"})),
        )
        .await;
    assert_eq!(
        (status, retried["retried"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let listed = api
        .call("viewer", Method::GET, "/api/v1/sources/unreadable", None)
        .await
        .1;
    assert_eq!(listed["objects"][0]["state"], "retrying", "{listed}");
    assert_eq!(listed["objects"][0]["attempts"], 0);
    let (status, refused) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/sources/retry",
            Some(json!({"sources": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {refused}"
    );
}

/// Every route against every kind of caller: the scopes that may call it get past
/// authorisation (any answer but 401 and 403), the others get 403, and a request with no
/// token, an unknown, an expired or a revoked one gets 401. Each mutating attempt, allowed or
/// not, adds one audit entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_matrix_of_routes_and_callers() {
    // No throttle: the matrix sends many wrong tokens on purpose.
    let api = Api::start_with(Vec::new(), 0).await;
    let own = api
        .issue(
            "issuer",
            json!({"kind": "federation", "labels": {"host": "laptop-1"}}),
        )
        .await;
    let id = own["canary"]["id"].as_str().unwrap().to_owned();
    let name = own["canary"]["name"].as_str().unwrap().to_owned();
    api.add_alert("canary-use:m:e-1", &name).await;
    let placement = api
        .call(
            "issuer",
            Method::POST,
            &format!("/api/v1/canaries/{id}/placements"),
            Some(json!({"host": "laptop-1"})),
        )
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let all = ["admin", "viewer", "issuer", "ingest"];
    let routes: Vec<(Method, String, Option<Value>, Vec<&str>)> = vec![
        (
            Method::GET,
            "/api/v1/canaries".into(),
            None,
            vec!["admin", "viewer", "issuer"],
        ),
        (
            Method::POST,
            "/api/v1/canaries".into(),
            Some(json!({"kind": "federation"})),
            vec!["admin", "issuer"],
        ),
        (
            Method::GET,
            format!("/api/v1/canaries/{id}"),
            None,
            vec!["admin", "viewer", "issuer"],
        ),
        (
            Method::POST,
            format!("/api/v1/canaries/{id}/renew"),
            None,
            vec!["admin", "issuer"],
        ),
        (
            Method::POST,
            format!("/api/v1/canaries/{id}/rotate"),
            None,
            vec!["admin"],
        ),
        (
            Method::POST,
            format!("/api/v1/canaries/{id}/placements"),
            Some(json!({"host": "h"})),
            vec!["admin", "issuer"],
        ),
        (
            Method::DELETE,
            format!("/api/v1/canaries/{id}/placements/{placement}"),
            None,
            vec!["admin", "issuer"],
        ),
        (
            Method::GET,
            "/api/v1/alerts".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (
            Method::GET,
            "/api/v1/alerts/canary-use:m:e-1".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (
            Method::POST,
            "/api/v1/alerts/canary-use:m:e-1/acknowledge".into(),
            Some(json!({})),
            vec!["admin"],
        ),
        (
            Method::POST,
            "/api/v1/alerts/canary-use:m:e-1/resolve".into(),
            Some(json!({})),
            vec!["admin"],
        ),
        (
            Method::GET,
            "/api/v1/response?days=30".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (Method::GET, "/api/v1/tokens".into(), None, vec!["admin"]),
        (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"name": "matrix", "scopes": ["viewer"]})),
            vec!["admin"],
        ),
        (
            Method::DELETE,
            "/api/v1/tokens/matrix".into(),
            None,
            vec!["admin"],
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (
            Method::GET,
            "/api/v1/issuers".into(),
            None,
            vec!["admin", "viewer", "issuer"],
        ),
        (
            Method::GET,
            "/api/v1/sinks".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (
            Method::POST,
            "/api/v1/sinks/none/test".into(),
            None,
            vec!["admin"],
        ),
        (
            Method::GET,
            "/api/v1/sources/unreadable".into(),
            None,
            vec!["admin", "viewer"],
        ),
        (
            Method::POST,
            "/api/v1/sources/retry".into(),
            Some(json!({})),
            vec!["admin"],
        ),
        (
            Method::POST,
            format!("/api/v1/canaries/{id}/revoke"),
            Some(json!({})),
            vec!["admin"],
        ),
    ];
    for (method, path, body, allowed) in &routes {
        let mutating = *method != Method::GET;
        for who in all
            .iter()
            .chain(["none", "wrong", "expired", "revoked"].iter())
        {
            let before = api.audit_actions().await.len();
            let (status, answer) = api.call(who, method.clone(), path, body.clone()).await;
            let expected_denial = if all.contains(who) {
                (!allowed.contains(who)).then_some(StatusCode::FORBIDDEN)
            } else {
                Some(StatusCode::UNAUTHORIZED)
            };
            match expected_denial {
                Some(denial) => assert_eq!(status, denial, "{who} {method} {path}: {answer}"),
                None => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{who} {method} {path} is allowed: {status} {answer}"
                ),
            }
            assert_eq!(
                api.audit_actions().await.len(),
                before + usize::from(mutating),
                "{who} {method} {path}: one audit entry per mutating attempt"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppressed_alert_is_listed_and_shown_with_its_suppression() {
    let api = Api::start().await;
    api.add_alert_suppressed("canary-use:a:e-1", "a", Some("sup-0123456789ab"))
        .await;
    api.add_alert("canary-use:a:e-2", "a").await;
    let (status, page) = api
        .call("viewer", Method::GET, "/api/v1/alerts", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let alerts = page["alerts"].as_array().unwrap();
    assert_eq!(
        alerts.len(),
        2,
        "a suppressed alert is listed like any other"
    );
    let by_key = |key: &str| {
        alerts
            .iter()
            .find(|alert| alert["dedup_key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_key("canary-use:a:e-1")["suppressed_by"],
        "sup-0123456789ab"
    );
    assert!(by_key("canary-use:a:e-2").get("suppressed_by").is_none());
    let (_, shown) = api
        .call(
            "viewer",
            Method::GET,
            "/api/v1/alerts/canary-use:a:e-1",
            None,
        )
        .await;
    assert_eq!(shown["suppressed_by"], "sup-0123456789ab", "{shown}");

    for (suppressed, expected) in [("true", "canary-use:a:e-1"), ("false", "canary-use:a:e-2")] {
        let (status, page) = api
            .call(
                "viewer",
                Method::GET,
                &format!("/api/v1/alerts?suppressed={suppressed}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let keys: Vec<&str> = page["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert["dedup_key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, [expected], "suppressed={suppressed}");
    }
    let (status, refused) = api
        .call("viewer", Method::GET, "/api/v1/alerts?suppressed=yes", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressions_take_an_admin_and_canary_alerts_take_the_explicit_flag() {
    let api = Api::start().await;
    // Spaces around a condition are dropped, as the dashboard's form drops them.
    let burst = json!({"rule": "access-denied-burst", "source_cidr": " 10.20.0.0/16 ",
                       "user_agent": "", "for": "7d", "reason": "terraform plan in CI"});
    for who in ["viewer", "issuer", "nobody"] {
        let (status, answer) = api
            .call(
                who,
                Method::POST,
                "/api/v1/suppressions",
                Some(burst.clone()),
            )
            .await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{who}: {status} {answer}"
        );
    }

    let canary = json!({"rule": "canary-use", "for": "1h", "reason": "noise"});
    let (status, answer) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/suppressions",
            Some(canary.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("include-canaries"),
        "{answer}"
    );

    let mut covering = canary;
    covering["include_canaries"] = json!(true);
    let (status, covered) = api
        .call(
            "admin",
            Method::POST,
            "/api/v1/suppressions",
            Some(covering),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{covered}");
    assert_eq!(covered["covers_canaries"], true);
    assert_eq!(covered["created_by"], "admin");

    let (status, made) = api
        .call("admin", Method::POST, "/api/v1/suppressions", Some(burst))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["source_cidr"], "10.20.0.0/16");
    assert!(
        made["user_agent"].is_null(),
        "an empty condition is none: {made}"
    );
    assert!(made["removed_at"].is_null());

    let (status, listed) = api
        .call("viewer", Method::GET, "/api/v1/suppressions", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["suppressions"].as_array().unwrap().len(), 2);

    let (status, _) = api
        .call(
            "viewer",
            Method::DELETE,
            &format!("/api/v1/suppressions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, removed) = api
        .call(
            "admin",
            Method::DELETE,
            &format!("/api/v1/suppressions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["removed_by"], "admin");
    let (status, again) = api
        .call(
            "admin",
            Method::DELETE,
            &format!("/api/v1/suppressions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{again}");

    let (_, in_force) = api
        .call("viewer", Method::GET, "/api/v1/suppressions", None)
        .await;
    assert_eq!(in_force["suppressions"].as_array().unwrap().len(), 1);
    let (_, every) = api
        .call("viewer", Method::GET, "/api/v1/suppressions?all=true", None)
        .await;
    assert_eq!(every["suppressions"].as_array().unwrap().len(), 2);

    let actions = api.audit_actions().await;
    let count = |action: &str, outcome: &str| {
        actions
            .iter()
            .filter(|(_, a, o)| a == action && o == outcome)
            .count()
    };
    assert_eq!(count("suppression.create", "allowed"), 2, "{actions:?}");
    assert_eq!(
        count("suppression.create", "denied"),
        4,
        "three scope refusals and the canary refusal: {actions:?}"
    );
    assert_eq!(count("suppression.remove", "allowed"), 1, "{actions:?}");
    assert_eq!(count("suppression.remove", "failed"), 1, "{actions:?}");
    assert_eq!(count("suppression.remove", "denied"), 1, "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_suppression_request_is_refused_with_what_to_fix_and_makes_nothing() {
    let api = Api::start().await;
    let cases = [
        (json!({"for": "1h", "reason": "everything"}), "at least one"),
        (
            json!({"rule": "access-denied-burst", "for": "1h", "reason": " "}),
            "reason",
        ),
        (
            json!({"rule": "access-denied-burst", "for": "soon", "reason": "x"}),
            "for",
        ),
        (
            json!({"rule": "access-denied-burst", "for": "2020-01-01T00:00:00Z", "reason": "x"}),
            "2020",
        ),
        (
            json!({"rule": "no-such-rule", "for": "1h", "reason": "x"}),
            "no-such-rule",
        ),
        (
            json!({"source_cidr": "10.0.0.0/33", "for": "1h", "reason": "x"}),
            "network",
        ),
        (
            json!({"user_agent": "a".repeat(5000), "for": "1h", "reason": "x"}),
            "at most 1024",
        ),
        (
            json!({"rule": "access-denied-burst", "for": "1h", "reason": "x".repeat(5000)}),
            "at most 4096",
        ),
        (
            json!({"rule": "access-denied-burst", "for": "1h", "reason": "x", "admin": true}),
            "unknown field",
        ),
        (json!({"rule": "access-denied-burst", "reason": "x"}), "for"),
        (
            json!({"rule": "access-denied-burst", "for": "400d", "reason": "kept for the audit"}),
            "at most 366d",
        ),
        (
            json!({"user_agent": "  ", "for": "1h", "reason": "x"}),
            "at least one",
        ),
        (
            json!({"source_cidr": "", "for": "1h", "reason": "x"}),
            "at least one",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api
            .call(
                "admin",
                Method::POST,
                "/api/v1/suppressions",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let (status, answer) = api
        .call("admin", Method::GET, "/api/v1/suppressions?all=maybe", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (_, every) = api
        .call("admin", Method::GET, "/api/v1/suppressions?all=true", None)
        .await;
    assert_eq!(every["suppressions"], json!([]), "nothing was made");
    let refused = api
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, action, _)| action == "suppression.create")
        .count();
    assert_eq!(refused, 13, "every refused request is in the audit log");

    // A refusal's reason does not take the place of the one the suppression gave, whether
    // the service refused it or the token's scope did.
    let (status, _) = api
        .call(
            "viewer",
            Method::POST,
            "/api/v1/suppressions",
            Some(
                json!({"rule": "access-denied-burst", "for": "1h", "reason": "asked by a viewer"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let entries = api.store.audit_log(None, 1_000).await.unwrap();
    let entry = |asked: &str| {
        entries
            .iter()
            .find(|entry| {
                entry.detail["suppression"]["reason"] == asked
                    || entry.detail["request"]["reason"] == asked
            })
            .unwrap_or_else(|| panic!("an entry keeps the reason {asked:?}"))
    };
    let too_long = entry("kept for the audit");
    assert!(
        too_long.detail["reason"]
            .as_str()
            .is_some_and(|refusal| refusal.contains("at most")),
        "{:?}",
        too_long.detail
    );
    let by_viewer = entry("asked by a viewer");
    assert!(
        by_viewer.detail["reason"]
            .as_str()
            .is_some_and(|refusal| refusal.contains("admin")),
        "{:?}",
        by_viewer.detail
    );
}
