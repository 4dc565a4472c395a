//! Choosing a database by location, migrating it, and copying one database into another, on
//! both backends and between them: real SQLite files and databases of their own on a real
//! PostgreSQL cluster.

#[macro_use]
mod support;

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use store::{
    ApiToken, AuditEntry, AuditOutcome, Backend, CanaryEvent, CanaryFilter, CanaryId, CanaryKey,
    CanaryKind, CanaryRecord, CopyProgress, EventTime, Issuer, Location, NewApiToken,
    NewAuditEntry, NewCanary, NewPlacement, Placement, SchemaState, Secret, SecretKey, SinkHealth,
    Store, StoreError, StoredAlert,
};
use support::TestDb;

const ACCOUNT: &str = "111122223333";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T0: EventTime = EventTime(1_722_585_600_000);

fn at(minutes: i64) -> EventTime {
    T0.offset(minutes * EventTime::MINUTE)
}

fn new_canary(kind: CanaryKind, key: &str, memo: Option<&str>) -> NewCanary {
    let id = CanaryId::generate();
    let name = format!("build-agent-{id}");
    NewCanary {
        principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/svc/{name}"),
        id,
        kind,
        issuer: Issuer::Offline,
        account_id: ACCOUNT.to_owned(),
        access_key_id: key.to_owned(),
        name,
        path: "/svc/".to_owned(),
        labels: BTreeMap::from([
            ("owner".to_owned(), "ålice \"o'neil\"".to_owned()),
            ("host".to_owned(), "ci-7".to_owned()),
        ]),
        memo: memo.map(str::to_owned),
        created_at: T0,
        expires_at: (kind != CanaryKind::IamUser).then(|| at(36 * 60)),
        issued_by: None,
    }
}

/// `TRUE` or `FALSE` as the backend writes a flag.
fn flag(db: &TestDb, value: bool) -> &'static str {
    match (db.backend(), value) {
        (Backend::Sqlite, true) => "1",
        (Backend::Sqlite, false) => "0",
        (Backend::Postgres, true) => "TRUE",
        (Backend::Postgres, false) => "FALSE",
    }
}

/// Fills `db` with a bit of everything: canaries through their life cycle (a kept secret, a
/// rotation, a revocation), placements, an idempotency key, tokens, audit entries, and what
/// serve writes (alerts in each state, the outbox, sink health, checkpoints), with NULLs,
/// quotes, newlines and non-ASCII text among the values.
async fn fill(db: &TestDb, key: &SecretKey) -> Vec<CanaryId> {
    let store = db.open().await.with_secret_key(key.clone());
    let kept = new_canary(
        CanaryKind::IamUser,
        "AKIAQAAAAAAAAAAAAAA1",
        Some("~/.aws/credentials\non mac-0231"),
    );
    store
        .insert(&kept, Some(&Secret::new(SECRET)))
        .await
        .unwrap();
    // Two keys issued at the same moment: their order is the order they were recorded in.
    store
        .rotate(&kept.id, "AKIAQAAAAAAAAAAAAAA2", None, T0)
        .await
        .unwrap();
    store
        .mark_key_deleted(&kept.id, "AKIAQAAAAAAAAAAAAAA1", at(2))
        .await
        .unwrap();
    let federation = new_canary(CanaryKind::Federation, "ASIAQAAAAAAAAAAAAAA3", None);
    store.insert(&federation, None).await.unwrap();
    store
        .mark_triggered(
            &federation.id,
            at(5),
            json!({"event_id": "e-1", "ip": "198.51.100.7"}),
        )
        .await
        .unwrap();
    store
        .revoke(&federation.id, at(6), json!({"reason": "laptop retired"}))
        .await
        .unwrap();
    let role = new_canary(CanaryKind::RoleSession, "ASIAQAAAAAAAAAAAAAA4", Some(""));
    store.insert(&role, None).await.unwrap();
    store.set_last_alert_at(&role.id, at(9)).await.unwrap();

    store
        .add_placement(
            &kept.id,
            &NewPlacement {
                host: Some("mac-0231".to_owned()),
                path: Some("~/.aws/credentials".to_owned()),
                format: Some("credentials".to_owned()),
                os: None,
                user: Some("alice".to_owned()),
            },
            Some("mdm"),
            at(1),
        )
        .await
        .unwrap();
    store
        .remember_idempotency_key("mdm", "req-1", &kept.id, at(1), at(-60))
        .await
        .unwrap();

    for (name, scopes, expires) in [
        ("admin", &["admin"][..], None),
        ("mdm", &["issuer", "viewer"][..], Some(at(60 * 24))),
    ] {
        store
            .create_api_token(&NewApiToken {
                name,
                sha256_hex: &format!("{:0>64}", name.len()),
                scopes,
                pinned_labels: BTreeMap::from([("team".to_owned(), "platform".to_owned())]),
                allowed_labels: BTreeMap::from([("host".to_owned(), "*".to_owned())]),
                created_at: T0,
                expires_at: expires,
            })
            .await
            .unwrap();
    }
    store
        .use_api_token(&format!("{:0>64}", 3), at(3))
        .await
        .unwrap();
    store.revoke_api_token("admin", at(4)).await.unwrap();
    for (minute, outcome, object) in [
        (1, AuditOutcome::Allowed, Some(kept.id.as_str())),
        (2, AuditOutcome::Denied, None),
        (3, AuditOutcome::Failed, Some("tok\"en")),
    ] {
        store
            .audit(&NewAuditEntry {
                at: at(minute),
                actor: "mdm",
                scope: "issuer",
                action: "canary.create",
                object,
                address: (minute != 2).then_some("203.0.113.9"),
                outcome,
                detail: json!({"asked": {"labels": {"host": "ci-7"}}, "n": minute}),
            })
            .await
            .unwrap();
    }

    // What serve writes, as it writes it.
    let body = |rule: &str| {
        json!({"rule": rule, "summary": "it's \"quoted\" — ünïcode\nand a new line"})
            .to_string()
            .replace('\'', "''")
    };
    db.execute(&format!(
        "INSERT INTO alerts (dedup_key, rule, severity, status, summary, event_time, \
         detected_at, updated_at, source, limit_key, body, state, state_note, state_by, \
         state_at, canary, acknowledged_at, resolved_at, false_positive, withdrawn_because) \
         VALUES \
         ('canary-use:{kept}', 'canary-use', 'critical', 'final', 'canary used', {t1}, {t2}, \
          {t2}, 'trail', '{kept}', '{b1}', 'resolved', 'a test by IT', 'alice', {t3}, \
          '{kept}', {t3}, {t3}, {yes}, NULL), \
         ('denial-burst:arn:x', 'denial-burst', 'medium', 'open', 'burst', {t1}, {t2b}, {t3}, \
          'http', 'arn:x', '{b2}', 'open', NULL, NULL, NULL, NULL, NULL, NULL, {no}, NULL), \
         ('instance-credential:i-1', 'instance-credential-exfiltration', 'high', 'withdrawn', \
          'moved', {t1}, {t2c}, {t3}, 'trail', 'i-1', '{b3}', 'acknowledged', NULL, 'bob', {t3}, \
          NULL, {t3}, NULL, {no}, 'the instance moved its address')",
        kept = kept.id,
        t1 = at(1).0,
        t2 = at(2).0,
        t2b = at(2).0 + 1,
        t2c = at(2).0 + 2,
        t3 = at(3).0,
        b1 = body("canary-use"),
        b2 = body("denial-burst"),
        b3 = body("instance-credential-exfiltration"),
        yes = flag(db, true),
        no = flag(db, false),
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO outbox (dedup_key, sink, kind, limit_key, created_at, next_attempt_at, \
         attempts, last_error, delivered_at, failed_at, digest_size) VALUES \
         ('canary-use:{kept}', 'slack', 'raised', '{kept}', {t2}, {t2}, 1, NULL, {t3}, NULL, 1), \
         ('canary-use:{kept}', 'mail', 'raised', '{kept}', {t2}, {t3}, 3, 'timed out', NULL, \
          NULL, NULL), \
         ('instance-credential:i-1', 'slack', 'raised', 'i-1', {t2}, {t2}, 1, NULL, {t2}, \
          NULL, 2), \
         ('instance-credential:i-1', 'slack', 'withdrawn', 'i-1', {t3}, {t3}, 0, NULL, NULL, \
          NULL, NULL), \
         ('denial-burst:arn:x', 'hook', 'raised', 'arn:x', {t2}, {t2}, 1, '400: no', NULL, {t3}, \
          NULL)",
        kept = kept.id,
        t2 = at(2).0,
        t3 = at(3).0,
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO sink_health (sink, delivered, failures, consecutive_failures, \
         last_success_at, last_failure_at, last_error) VALUES \
         ('slack', 2, 0, 0, {t3}, NULL, NULL), ('mail', 0, 3, 3, NULL, {t3}, 'timed out'), \
         ('hook', 0, 1, 0, NULL, {t3}, '400: no'); \
         INSERT INTO checkpoints (source, position, updated_at) VALUES \
         ('trail', 'AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/02/x.json.gz', {t3}), \
         ('dir', '{{\"file\": \"ünïcode.json\"}}', {t3})",
        t3 = at(3).0,
    ))
    .await;
    store.close().await;
    vec![kept.id, federation.id, role.id]
}

/// What the store's own queries answer: a copied store must answer the same.
#[derive(Debug, PartialEq)]
struct Answers {
    canaries: Vec<CanaryRecord>,
    histories: Vec<Vec<CanaryEvent>>,
    keys: Vec<CanaryKey>,
    placements: Vec<Vec<Placement>>,
    kept_secret: Option<String>,
    tokens: Vec<ApiToken>,
    audit: Vec<AuditEntry>,
    alerts: Vec<StoredAlert>,
    sinks: Vec<SinkHealth>,
    checkpoints: Vec<(String, String, EventTime)>,
}

async fn answers(store: &Store, canaries: &[CanaryId]) -> Answers {
    let mut histories = Vec::new();
    let mut placements = Vec::new();
    for id in canaries {
        histories.push(store.history(id).await.unwrap());
        placements.push(store.placements(id).await.unwrap());
    }
    Answers {
        canaries: store.list(&CanaryFilter::default()).await.unwrap(),
        histories,
        keys: store.all_keys().await.unwrap(),
        placements,
        kept_secret: store
            .secret(&canaries[0])
            .await
            .unwrap()
            .map(|secret| secret.expose().to_owned()),
        tokens: store.api_tokens().await.unwrap(),
        audit: store.audit_log(None, 100).await.unwrap(),
        alerts: store.recent_alerts(100).await.unwrap(),
        sinks: store.sink_health().await.unwrap(),
        checkpoints: store.checkpoints().await.unwrap(),
    }
}

/// Every row of every table but sqlx's migrations, each as JSON with sorted keys (flags as 0
/// and 1, bytes as `\x` and hex, SQLite's rowid as `rowid`), sorted: the whole database,
/// comparable across backends.
async fn dump(db: &TestDb) -> BTreeMap<String, Vec<String>> {
    let mut tables = BTreeMap::new();
    match db.backend() {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite%' AND name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for name in names {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                        .bind(&name)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                let pairs: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "'{c}', CASE WHEN typeof(\"{c}\") = 'blob' \
                             THEN '\\x' || lower(hex(\"{c}\")) ELSE \"{c}\" END"
                        )
                    })
                    .collect();
                let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT json_object('rowid', rowid, {}) FROM \"{name}\"",
                    pairs.join(", ")
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                tables.insert(name, rows);
            }
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(db.url()).await.unwrap();
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(tablename AS TEXT) FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for name in names {
                let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT CAST(row_to_json(t) AS TEXT) FROM \"{name}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                tables.insert(name, rows);
            }
            conn.close().await.unwrap();
        }
    }
    tables
        .into_iter()
        .map(|(name, rows)| {
            let mut rows: Vec<String> = rows
                .iter()
                .map(|row| {
                    let row: BTreeMap<String, serde_json::Value> =
                        serde_json::from_str::<BTreeMap<String, serde_json::Value>>(row)
                            .unwrap()
                            .into_iter()
                            .map(|(column, value)| match value {
                                serde_json::Value::Bool(b) => (column, json!(i64::from(b))),
                                value => (column, value),
                            })
                            .collect();
                    serde_json::to_string(&row).unwrap()
                })
                .collect();
            rows.sort();
            (name, rows)
        })
        .collect()
}

/// `dump` without SQLite's rowid where the other database has no such column, so that two
/// dumps of different backends compare.
fn comparable(
    mut sqlite: BTreeMap<String, Vec<String>>,
    other: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    for (name, rows) in sqlite.iter_mut() {
        let other_has_rowid = other
            .get(name)
            .and_then(|rows| rows.first())
            .is_some_and(|row| row.contains("\"rowid\":"));
        if !other_has_rowid {
            for row in rows.iter_mut() {
                let mut value: BTreeMap<String, serde_json::Value> =
                    serde_json::from_str(row).unwrap();
                value.remove("rowid");
                *row = serde_json::to_string(&value).unwrap();
            }
            rows.sort();
        }
    }
    sqlite
}

fn same_dumps(
    (a, a_backend): (BTreeMap<String, Vec<String>>, Backend),
    (b, b_backend): (BTreeMap<String, Vec<String>>, Backend),
) {
    let (a, b) = match (a_backend, b_backend) {
        (Backend::Sqlite, Backend::Postgres) => (comparable(a, &b), b),
        (Backend::Postgres, Backend::Sqlite) => {
            let b = comparable(b, &a);
            (a, b)
        }
        _ => (a, b),
    };
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, rows) in &a {
        assert_eq!(rows, &b[name], "table {name}");
    }
}

fn other(backend: Backend) -> Backend {
    match backend {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

on_both_backends!(a_copy_holds_every_row_and_answers_the_same);
async fn a_copy_holds_every_row_and_answers_the_same(db: &TestDb) {
    let key = SecretKey::generate();
    let canaries = fill(db, &key).await;
    let source = db.open().await.with_secret_key(key.clone());
    let expected = answers(&source, &canaries).await;
    let source_dump = dump(db).await;
    assert!(source_dump.values().all(|rows| rows.len() < 100));

    for target_backend in [other(db.backend()), db.backend()] {
        let target_db = TestDb::new(target_backend).await;
        let target = target_db.open().await.with_secret_key(key.clone());
        let mut tables_seen = Vec::new();
        let mut rows_seen = 0;
        let report = source
            .copy_to(&target, |progress| match progress {
                CopyProgress::Table { table, rows } => tables_seen.push((table.to_owned(), rows)),
                CopyProgress::Rows(rows) => rows_seen += rows,
            })
            .await
            .unwrap();

        // Every table, parents first, with the same rows on both sides.
        let copied: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
        let mut all: Vec<&str> = source_dump.keys().map(String::as_str).collect();
        let mut sorted = copied.clone();
        sorted.sort_unstable();
        all.sort_unstable();
        assert_eq!(sorted, all, "every table is copied");
        let position = |table: &str| copied.iter().position(|t| *t == table).unwrap();
        assert!(position("canaries") < position("canary_keys"));
        assert!(position("canaries") < position("placements"));
        assert!(position("alerts") < position("outbox"));
        for table in &report.tables {
            assert_eq!(table.source_rows, source_dump[&table.table].len() as u64);
            assert_eq!(table.target_rows, table.source_rows, "{}", table.table);
        }
        let count = |name: &str| report.tables[position(name)].target_rows;
        assert_eq!(
            (
                count("canaries"),
                count("canary_keys"),
                count("outbox"),
                count("audit_log")
            ),
            (3, 4, 5, 3)
        );
        assert_eq!(
            tables_seen,
            report
                .tables
                .iter()
                .map(|t| (t.table.clone(), t.source_rows))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            rows_seen,
            report.tables.iter().map(|t| t.source_rows).sum::<u64>()
        );
        assert_eq!(report.from, source.location());
        assert_eq!(report.to, target.location());

        same_dumps(
            (source_dump.clone(), db.backend()),
            (dump(&target_db).await, target_backend),
        );
        assert_eq!(answers(&target, &canaries).await, expected);

        // New rows get new numbers: the copied numbering continues.
        let later = new_canary(CanaryKind::IamUser, "AKIAQAAAAAAAAAAAAAA9", None);
        target.insert(&later, None).await.unwrap();
        target
            .rotate(&canaries[0], "AKIAQAAAAAAAAAAAAAA8", None, at(30))
            .await
            .unwrap();
        let newest_key = target_db
            .count(
                "SELECT COUNT(*) FROM canary_keys WHERE rowid >= \
                 (SELECT rowid FROM canary_keys WHERE access_key_id = 'AKIAQAAAAAAAAAAAAAA9')",
            )
            .await;
        assert_eq!(newest_key, 2, "the new keys come after every copied one");
        let history = target.history(&canaries[0]).await.unwrap();
        assert_eq!(
            history[..expected.histories[0].len()],
            expected.histories[0]
        );
        assert_eq!(history.len(), expected.histories[0].len() + 1);
        let id = target
            .audit(&NewAuditEntry {
                at: at(40),
                actor: "cli",
                scope: "admin",
                action: "canary.rotate",
                object: None,
                address: None,
                outcome: AuditOutcome::Allowed,
                detail: json!({}),
            })
            .await
            .unwrap();
        assert!(expected.audit.iter().all(|entry| entry.id < id), "{id}");
        target_db
            .execute(
                "INSERT INTO outbox (dedup_key, sink, limit_key, created_at, next_attempt_at) \
                 VALUES ('denial-burst:arn:x', 'slack', 'arn:x', 1, 1)",
            )
            .await;
        assert_eq!(
            target_db
                .count("SELECT COUNT(*) FROM outbox WHERE id > 5")
                .await,
            1
        );
        target.close().await;
        target_db.finish().await;
    }
    source.close().await;
}

on_both_backends!(a_target_holding_data_is_refused);
async fn a_target_holding_data_is_refused(db: &TestDb) {
    let key = SecretKey::generate();
    fill(db, &key).await;
    let source = db.open().await;
    for target_backend in [db.backend(), other(db.backend())] {
        let target_db = TestDb::new(target_backend).await;
        let target = target_db.open().await;
        let mine = new_canary(CanaryKind::IamUser, "AKIAQAAAAAAAAAAAAAB1", None);
        target.insert(&mine, None).await.unwrap();
        let err = source.copy_to(&target, |_| {}).await.unwrap_err();
        assert!(matches!(err, StoreError::TargetNotEmpty { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("already holds data"), "{message}");
        assert!(message.contains("canaries: 1"), "{message}");
        assert!(
            message.contains("only fills an empty database"),
            "{message}"
        );
        // Nothing was written.
        assert_eq!(
            target.list(&CanaryFilter::default()).await.unwrap().len(),
            1
        );
        assert_eq!(target_db.count("SELECT COUNT(*) FROM alerts").await, 0);
        target.close().await;
        target_db.finish().await;
    }

    let err = source.copy_to(&source, |_| {}).await.unwrap_err();
    assert!(matches!(err, StoreError::SameDatabase { .. }), "{err}");
    source.close().await;
}

on_both_backends!(an_empty_database_copies_to_an_empty_one);
async fn an_empty_database_copies_to_an_empty_one(db: &TestDb) {
    let source = db.open().await;
    let target_db = TestDb::new(other(db.backend())).await;
    let target = target_db.open().await;
    let report = source.copy_to(&target, |_| {}).await.unwrap();
    assert!(!report.tables.is_empty());
    assert!(report
        .tables
        .iter()
        .all(|t| t.source_rows == 0 && t.target_rows == 0));
    // The target is still empty, so a second copy is allowed.
    source.copy_to(&target, |_| {}).await.unwrap();
    target.close().await;
    target_db.finish().await;
    source.close().await;
}

on_both_backends!(migrate_applies_what_is_missing_and_says_which);
async fn migrate_applies_what_is_missing_and_says_which(db: &TestDb) {
    let location = Location::parse(db.url()).unwrap();
    assert_eq!(location.backend(), db.backend());
    let status = location.status().await.unwrap();
    let fresh = match db.backend() {
        Backend::Sqlite => SchemaState::Missing,
        Backend::Postgres => SchemaState::Empty,
    };
    assert_eq!(status.state, fresh);
    assert!(status.applied.is_empty());
    assert_eq!(status.pending.len(), db.migrations());
    if let Some(path) = db.sqlite_path() {
        assert!(!path.exists(), "status creates nothing");
    }

    db.migrate_up_to(3).await;
    let status = location.status().await.unwrap();
    assert_eq!(status.state, SchemaState::Migrated);
    assert_eq!(
        status.applied.iter().map(|m| m.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(status.applied[0].description, "canary registry");
    assert_eq!(status.pending.len(), db.migrations() - 3);
    assert!(status.unknown.is_empty());

    let (store, applied) = location.migrate().await.unwrap();
    assert_eq!(
        applied.iter().map(|m| m.version).collect::<Vec<_>>(),
        status.pending.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    store.close().await;
    let (store, applied) = location.migrate().await.unwrap();
    assert!(applied.is_empty(), "{applied:?}");
    store.close().await;
    let status = location.status().await.unwrap();
    assert!(status.pending.is_empty());
    assert_eq!(status.applied.len(), db.migrations());
    assert_eq!(status.location, location.to_string());
    assert_eq!(status.backend, db.backend().as_str());
}

on_both_backends!(reading_commands_need_a_database_that_is_there);
async fn reading_commands_need_a_database_that_is_there(db: &TestDb) {
    let location = Location::parse(db.url()).unwrap();
    let err = location.open_existing().await.unwrap_err();
    match db.backend() {
        Backend::Sqlite => {
            assert!(matches!(err, StoreError::Missing { .. }), "{err}");
            assert!(!db.sqlite_path().unwrap().exists(), "nothing created");
        }
        Backend::Postgres => {
            assert!(matches!(err, StoreError::NotMigrated { .. }), "{err}");
            assert!(err.to_string().contains("tripkey db migrate"), "{err}");
            let tables = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()";
            assert_eq!(db.count(tables).await, 0, "nothing created");
        }
    }
    // Once it is there, with some migrations, it opens and gets the rest.
    db.migrate_up_to(2).await;
    let store = location.open_existing().await.unwrap();
    assert!(location.status().await.unwrap().pending.is_empty());
    store.close().await;
}

#[tokio::test]
async fn a_postgres_password_is_never_shown() {
    let db = TestDb::new(Backend::Postgres).await;
    // The test cluster trusts loopback connections, so any password is accepted.
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_password(Some("hunter2-not-shown")).unwrap();
    let location = Location::parse(url.as_str()).unwrap();
    for shown in [location.to_string(), format!("{location:?}")] {
        assert!(shown.contains(":***@"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    let err = location.open_existing().await.unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");

    let (store, _) = location.migrate().await.unwrap();
    assert_eq!(store.location(), location.to_string());
    let status = location.status().await.unwrap();
    assert!(!status.location.contains("hunter2"));
    assert!(!serde_json::to_string(&status).unwrap().contains("hunter2"));
    let sqlite = TestDb::new(Backend::Sqlite).await;
    let other = sqlite.open().await;
    let report = store.copy_to(&other, |_| {}).await.unwrap();
    assert!(!serde_json::to_string(&report).unwrap().contains("hunter2"));
    let err = other.copy_to(&store, |_| {}).await;
    assert!(err.is_ok(), "both are empty");
    other.close().await;
    store.close().await;
    db.finish().await;
}
