//! The alert pipeline's tables against both backends (an SQLite file, a PostgreSQL database):
//! one transaction per batch, alerts unique by dedup key, the outbox and sink health.

#[macro_use]
mod support;

use store::{AlertRow, Backend, BatchCommit, Delivery, EventTime, Store};
use support::TestDb;

const T0: EventTime = EventTime(1_722_585_600_000);

fn at(seconds: i64) -> EventTime {
    T0.offset(seconds * 1_000)
}

fn alert(key: &str, status: &str, sinks: &[&str]) -> AlertRow {
    AlertRow {
        dedup_key: key.to_owned(),
        rule: "canary-use".to_owned(),
        severity: "critical".to_owned(),
        status: status.to_owned(),
        withdrawn_because: None,
        replaces: Vec::new(),
        summary: format!("{key} {status}"),
        event_time: at(-300),
        limit_key: "svc-billing-sync".to_owned(),
        body: format!("{{\"dedup_key\":\"{key}\",\"status\":\"{status}\"}}"),
        sinks: sinks.iter().map(|s| (*s).to_owned()).collect(),
        canary: None,
        suppressed_by: None,
    }
}

on_both_backends!(a_redelivered_batch_adds_no_alert_and_no_delivery);
async fn a_redelivered_batch_adds_no_alert_and_no_delivery(db: &TestDb) {
    let store = db.open().await;
    let alerts = [alert("a1", "final", &["hook", "mail"])];
    let batch = BatchCommit {
        source: "trail",
        checkpoint: Some("AWSLogs/1/x.json.gz"),
        alerts: &alerts,
        at: at(0),
    };
    assert_eq!(store.commit_batch(&batch).await.unwrap(), ["a1"]);
    assert!(store
        .commit_batch(&BatchCommit { at: at(5), ..batch })
        .await
        .unwrap()
        .is_empty());
    let due = store.due_deliveries(at(10), 100).await.unwrap();
    let sinks: Vec<&str> = due.iter().map(|d| d.sink.as_str()).collect();
    assert_eq!(sinks, ["hook", "mail"]);
    assert_eq!(
        due[0].alert.detected_at,
        at(0),
        "the first commit's time stays"
    );
    assert_eq!(
        store.checkpoint("trail").await.unwrap().as_deref(),
        Some("AWSLogs/1/x.json.gz")
    );
    assert_eq!(store.checkpoint("other").await.unwrap(), None);
}

async fn commit(store: &Store, alerts: &[AlertRow], seconds: i64) -> Vec<String> {
    store
        .commit_batch(&BatchCommit {
            source: "trail",
            checkpoint: None,
            alerts,
            at: at(seconds),
        })
        .await
        .unwrap()
}

on_both_backends!(an_open_alert_takes_its_final_form_and_a_final_one_stays);
async fn an_open_alert_takes_its_final_form_and_a_final_one_stays(db: &TestDb) {
    let store = db.open().await;
    let open_version = [alert("b", "open", &["hook"])];
    let final_version = [alert("b", "final", &["hook"])];
    assert_eq!(commit(&store, &open_version, 0).await, ["b"]);
    assert!(commit(&store, &final_version, 60).await.is_empty());
    assert!(commit(&store, &open_version, 120).await.is_empty());
    let stored = store.alert("b").await.unwrap().unwrap();
    assert_eq!(stored.status, "final");
    assert_eq!(stored.summary, "b final");
    assert_eq!(stored.updated_at, at(60));
    assert_eq!(
        store.due_deliveries(at(200), 10).await.unwrap().len(),
        1,
        "an update is not delivered again"
    );
}

on_both_backends!(nothing_of_a_failed_batch_is_kept);
async fn nothing_of_a_failed_batch_is_kept(db: &TestDb) {
    let store = db.open().await;
    // Fail the transaction at its last write, after the alerts and outbox rows went in.
    db.execute(match db.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER poison BEFORE INSERT ON checkpoints WHEN NEW.position = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        }
        Backend::Postgres => {
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.position = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER poison BEFORE INSERT ON checkpoints \
             FOR EACH ROW EXECUTE FUNCTION poison()"
        }
    })
    .await;
    let alerts = [alert("c1", "final", &["hook"])];
    let failed = store
        .commit_batch(&BatchCommit {
            source: "trail",
            checkpoint: Some("poison"),
            alerts: &alerts,
            at: at(0),
        })
        .await;
    assert!(failed.unwrap_err().to_string().contains("poisoned"));
    assert_eq!(store.checkpoint("trail").await.unwrap(), None);
    assert!(store.recent_alerts(10).await.unwrap().is_empty());
    assert!(store.due_deliveries(at(10), 10).await.unwrap().is_empty());
}

on_both_backends!(deliveries_are_held_retried_refused_and_counted_per_sink);
async fn deliveries_are_held_retried_refused_and_counted_per_sink(db: &TestDb) {
    let store = db.open().await;
    let alerts = [
        alert("d1", "final", &["hook"]),
        alert("d2", "final", &["hook"]),
        alert("d3", "final", &["mail"]),
    ];
    store
        .commit_batch(&BatchCommit {
            source: "trail",
            checkpoint: None,
            alerts: &alerts,
            at: at(0),
        })
        .await
        .unwrap();
    let due = store.due_deliveries(at(0), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let (d2, d3) = (due[1].id, due[2].id);
    assert_eq!(store.due_deliveries(at(0), 2).await.unwrap().len(), 2);

    store
        .deliveries_done("hook", &due[..1], at(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .last_delivered_at("hook", "svc-billing-sync")
            .await
            .unwrap(),
        Some(at(1))
    );
    store.postpone_deliveries(&[d2], at(61)).await.unwrap();
    let due: Vec<i64> = store
        .due_deliveries(at(30), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(due, [d3], "a held delivery waits for its window to end");
    let pending = store
        .pending_deliveries("hook", "svc-billing-sync")
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].alert.dedup_key, "d2");

    store
        .deliveries_failed("mail", &[d3], at(2), "connection refused", Some(at(10)))
        .await
        .unwrap();
    store
        .deliveries_failed("mail", &[d3], at(10), "550 no such user", None)
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries(at(1_000), 10)
            .await
            .unwrap()
            .iter()
            .all(|d| d.id != d3),
        "a refused delivery is not retried"
    );
    let health = store.sink_health().await.unwrap();
    let mail = health.iter().find(|h| h.sink == "mail").unwrap();
    assert_eq!(mail.failures, 2);
    assert_eq!(mail.consecutive_failures, 2);
    assert_eq!(mail.refused, 1);
    assert_eq!(mail.last_error.as_deref(), Some("550 no such user"));
    let hook = health.iter().find(|h| h.sink == "hook").unwrap();
    assert_eq!(
        (hook.delivered, hook.pending, hook.consecutive_failures),
        (1, 1, 0)
    );
    assert_eq!(
        store.alert_counts().await.unwrap(),
        [("canary-use".to_owned(), 3)]
    );
}

on_both_backends!(api_tokens_are_found_by_digest_only_while_live);
async fn api_tokens_are_found_by_digest_only_while_live(db: &TestDb) {
    let store = db.open().await;
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let token = |name, digest, created_at, expires_at| store::NewApiToken {
        name,
        sha256_hex: digest,
        scopes: &["ingest"],
        pinned_labels: Default::default(),
        allowed_labels: Default::default(),
        created_at,
        expires_at,
    };
    store
        .create_api_token(&token("lambda-forwarder", digest, at(0), None))
        .await
        .unwrap();
    let again = store
        .create_api_token(&token("lambda-forwarder", "00", at(1), None))
        .await;
    assert!(matches!(again, Err(store::StoreError::TokenExists(_))));
    let found = store.use_api_token(digest, at(5)).await.unwrap().unwrap();
    assert!(found.allows("ingest", at(5)) && !found.allows("admin", at(5)));
    assert_eq!(found.last_used_at, Some(at(5)));
    assert_eq!(store.use_api_token("00", at(6)).await.unwrap(), None);
    assert!(store
        .revoke_api_token("lambda-forwarder", at(7))
        .await
        .unwrap());
    assert!(!store
        .revoke_api_token("lambda-forwarder", at(8))
        .await
        .unwrap());
    let revoked = store.use_api_token(digest, at(9)).await.unwrap().unwrap();
    assert!(!revoked.allows("ingest", at(9)));
    assert_eq!(
        revoked.last_used_at,
        Some(at(5)),
        "a revoked token is not marked used"
    );

    let expiring = "ab".repeat(32);
    store
        .create_api_token(&token("ci-job", &expiring, at(0), Some(at(10))))
        .await
        .unwrap();
    let live = store
        .use_api_token(&expiring, at(9))
        .await
        .unwrap()
        .unwrap();
    assert!(live.allows("ingest", at(9)));
    let expired = store
        .use_api_token(&expiring, at(10))
        .await
        .unwrap()
        .unwrap();
    assert!(!expired.allows("ingest", at(10)), "expired at its expiry");
    assert_eq!(store.api_tokens().await.unwrap().len(), 2);
}

on_both_backends!(a_new_canary_alert_marks_its_canary_triggered_in_the_same_commit);
async fn a_new_canary_alert_marks_its_canary_triggered_in_the_same_commit(db: &TestDb) {
    use std::collections::BTreeMap;
    use store::{CanaryEventKind, CanaryId, CanaryKind, CanaryStatus, Issuer, NewCanary};

    let store = db.open().await;
    let id = CanaryId::generate();
    store
        .insert(
            &NewCanary {
                id: id.clone(),
                kind: CanaryKind::IamUser,
                issuer: Issuer::Offline,
                account_id: "111122223333".to_owned(),
                access_key_id: "AKIARTX3GSDSQUZBURZQ".to_owned(),
                principal_arn: "arn:aws:iam::111122223333:user/svc/svc-etl-runner-51".to_owned(),
                name: "svc-etl-runner-51".to_owned(),
                path: "/svc/".to_owned(),
                labels: BTreeMap::new(),
                memo: None,
                created_at: at(-3600),
                expires_at: None,
                issued_by: None,
            },
            None,
        )
        .await
        .unwrap();
    let mut row = alert("canary-use:svc-etl-runner-51:e1", "final", &["hook"]);
    row.canary = Some("svc-etl-runner-51".to_owned());
    let mut unknown = alert("canary-use:from-a-file:e2", "final", &["hook"]);
    unknown.canary = Some("from-a-file".to_owned());
    let alerts = [row, unknown];
    let batch = BatchCommit {
        source: "trail",
        checkpoint: Some("k1"),
        alerts: &alerts,
        at: T0,
    };
    assert_eq!(store.commit_batch(&batch).await.unwrap().len(), 2);
    // The same batch again: no second trigger in the history.
    assert!(store.commit_batch(&batch).await.unwrap().is_empty());

    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, CanaryStatus::Triggered);
    assert_eq!(record.last_alert_at, Some(at(-300)));
    let triggers: Vec<_> = store
        .history(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == CanaryEventKind::Triggered)
        .collect();
    assert_eq!(triggers.len(), 1);
    assert_eq!(
        triggers[0].detail["dedup_key"],
        "canary-use:svc-etl-runner-51:e1"
    );
}

on_both_backends!(handling_keeps_the_first_acknowledgement_and_the_resolution);
async fn handling_keeps_the_first_acknowledgement_and_the_resolution(db: &TestDb) {
    use store::AlertStateChange::{Acknowledge, Resolve};

    let store = db.open().await;
    commit(
        &store,
        &[
            alert("acked", "final", &[]),
            alert("straight", "final", &[]),
        ],
        0,
    )
    .await;
    let fresh = store.alert("acked").await.unwrap().unwrap();
    assert_eq!(
        (
            fresh.acknowledged_at,
            fresh.resolved_at,
            fresh.false_positive
        ),
        (None, None, false)
    );

    store
        .set_alert_state("acked", Acknowledge, Some("on it"), "alice", at(60))
        .await
        .unwrap();
    store
        .set_alert_state("acked", Acknowledge, None, "bob", at(90))
        .await
        .unwrap();
    let resolved = store
        .set_alert_state(
            "acked",
            Resolve {
                false_positive: false,
            },
            None,
            "bob",
            at(600),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.state, "resolved");
    assert_eq!(
        resolved.acknowledged_at,
        Some(at(60)),
        "the first one stays"
    );
    assert_eq!(resolved.resolved_at, Some(at(600)));
    let corrected = store
        .set_alert_state(
            "acked",
            Resolve {
                false_positive: true,
            },
            Some("red team"),
            "bob",
            at(700),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        corrected.resolved_at,
        Some(at(600)),
        "a correction keeps the time"
    );
    assert!(corrected.false_positive);
    let reopened = store
        .set_alert_state("acked", Acknowledge, Some("not over"), "carol", at(800))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.state, "acknowledged");
    assert_eq!(
        (
            reopened.acknowledged_at,
            reopened.resolved_at,
            reopened.false_positive
        ),
        (Some(at(60)), None, false)
    );

    let straight = store
        .set_alert_state(
            "straight",
            Resolve {
                false_positive: true,
            },
            None,
            "cli",
            at(120),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (straight.acknowledged_at, straight.resolved_at),
        (Some(at(120)), Some(at(120))),
        "resolving unacknowledged counts as acknowledging then"
    );
    assert!(store
        .set_alert_state("none", Acknowledge, None, "cli", at(1))
        .await
        .unwrap()
        .is_none());

    let timings = store.alert_timings(at(0)).await.unwrap();
    assert_eq!(timings.len(), 2);
    let straight = timings.iter().find(|t| t.resolved_at.is_some()).unwrap();
    assert_eq!(straight.event_time, at(-300));
    assert_eq!(straight.detected_at, at(0));
    assert!(straight.false_positive);
    assert_eq!(straight.rule, "canary-use");
    assert!(store.alert_timings(at(1)).await.unwrap().is_empty());
}

on_both_backends!(the_migration_fills_handling_times_from_the_last_change);
/// A database handled before the handling times existed: its acknowledged and resolved
/// alerts get them from their last change.
async fn the_migration_fills_handling_times_from_the_last_change(db: &TestDb) {
    db.migrate_up_to(4).await;
    for (key, state, state_at) in [
        ("o", "open", "NULL".to_owned()),
        ("a", "acknowledged", at(60).0.to_string()),
        ("r", "resolved", at(90).0.to_string()),
    ] {
        db.execute(&format!(
            "INSERT INTO alerts (dedup_key, rule, severity, status, summary, event_time, \
             detected_at, updated_at, source, limit_key, body, state, state_at) \
             VALUES ('{key}', 'canary-use', 'critical', 'final', '', {}, {t0}, {t0}, 'trail', \
             'k', '{{}}', '{state}', {state_at})",
            at(-5).0,
            t0 = T0.0,
        ))
        .await;
    }
    let store = db.open().await;
    let handled = |key: &'static str| {
        let store = store.clone();
        async move {
            let alert = store.alert(key).await.unwrap().unwrap();
            (
                alert.acknowledged_at,
                alert.resolved_at,
                alert.false_positive,
            )
        }
    };
    assert_eq!(handled("o").await, (None, None, false));
    assert_eq!(handled("a").await, (Some(at(60)), None, false));
    assert_eq!(handled("r").await, (Some(at(90)), Some(at(90)), false));
}

on_both_backends!(a_replacing_alert_takes_over_the_row_it_replaces_and_merges_the_rest);
async fn a_replacing_alert_takes_over_the_row_it_replaces_and_merges_the_rest(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(
        commit(
            &store,
            &[
                alert("burst:100", "open", &["hook"]),
                alert("burst:900", "open", &["hook"])
            ],
            0
        )
        .await,
        ["burst:100", "burst:900"]
    );
    let due = store.due_deliveries(at(1), 10).await.unwrap();
    store.deliveries_done("hook", &due, at(1)).await.unwrap();
    store
        .set_alert_state(
            "burst:100",
            store::AlertStateChange::Acknowledge,
            Some("on it"),
            "alice",
            at(2),
        )
        .await
        .unwrap();

    // Late denials show one burst, starting earlier than either was first seen.
    let merged = AlertRow {
        replaces: vec!["burst:100".to_owned(), "burst:900".to_owned()],
        ..alert("burst:50", "open", &["hook"])
    };
    assert!(
        commit(&store, &[merged], 10).await.is_empty(),
        "a renamed alert is not a new one"
    );
    assert!(store.alert("burst:100").await.unwrap().is_none());
    let renamed = store.alert("burst:50").await.unwrap().unwrap();
    assert_eq!(renamed.state, "acknowledged", "its handling is kept");
    assert_eq!(renamed.state_note.as_deref(), Some("on it"));
    assert_eq!(renamed.detected_at, at(0), "and when it was first detected");
    assert_eq!(renamed.summary, "burst:50 open");
    let absorbed = store.alert("burst:900").await.unwrap().unwrap();
    assert_eq!(absorbed.status, "withdrawn");
    assert_eq!(
        absorbed.withdrawn_because.as_deref(),
        Some("merged into burst:50")
    );
    let body: serde_json::Value = serde_json::from_str(&absorbed.body).unwrap();
    assert_eq!(
        body["status"], "withdrawn",
        "the body says what the row says"
    );
    assert_eq!(body["withdrawn_because"], "merged into burst:50");

    // The sink that was told of the absorbed alert is told it was withdrawn; the renamed
    // alert's delivery moved with it and is not repeated.
    let due = store.due_deliveries(at(20), 10).await.unwrap();
    let told: Vec<(&str, &str)> = due
        .iter()
        .map(|d| (d.alert.dedup_key.as_str(), d.alert.status.as_str()))
        .collect();
    assert_eq!(told, [("burst:900", "withdrawn")]);
}

on_both_backends!(a_withdrawn_alert_is_marked_with_its_reason_and_told_once_to_sinks_that_knew_it);
async fn a_withdrawn_alert_is_marked_with_its_reason_and_told_once_to_sinks_that_knew_it(
    db: &TestDb,
) {
    let store = db.open().await;
    assert_eq!(
        commit(&store, &[alert("exfil", "open", &["hook", "mail"])], 0).await,
        ["exfil"]
    );
    let hook: Vec<Delivery> = store
        .due_deliveries(at(1), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.sink == "hook")
        .collect();
    store.deliveries_done("hook", &hook, at(1)).await.unwrap();

    let withdrawn = AlertRow {
        withdrawn_because: Some("a late call shows 54.1.2.3 was the first address".to_owned()),
        ..alert("exfil", "withdrawn", &["hook", "mail"])
    };
    assert!(commit(&store, std::slice::from_ref(&withdrawn), 10)
        .await
        .is_empty());
    assert!(
        commit(&store, &[withdrawn], 11).await.is_empty(),
        "withdrawing twice changes nothing"
    );
    let stored = store.alert("exfil").await.unwrap().unwrap();
    assert_eq!(stored.status, "withdrawn");
    assert_eq!(
        stored.withdrawn_because.as_deref(),
        Some("a late call shows 54.1.2.3 was the first address")
    );
    let due = store.due_deliveries(at(20), 10).await.unwrap();
    let mut sinks: Vec<&str> = due.iter().map(|d| d.sink.as_str()).collect();
    sinks.sort();
    // mail had not delivered the alert yet: its pending delivery now shows it withdrawn.
    // hook had: it gets one withdrawal notice.
    assert_eq!(sinks, ["hook", "mail"]);
    assert!(due.iter().all(|d| d.alert.status == "withdrawn"));

    assert!(
        commit(&store, &[alert("never-stored", "withdrawn", &["hook"])], 30)
            .await
            .is_empty()
    );
    assert!(
        store.alert("never-stored").await.unwrap().is_none(),
        "an alert withdrawn before it was ever committed leaves nothing"
    );
}

on_both_backends!(an_alert_withdrawn_while_its_notice_is_on_its_way_is_withdrawn_after_it);
async fn an_alert_withdrawn_while_its_notice_is_on_its_way_is_withdrawn_after_it(db: &TestDb) {
    let store = db.open().await;
    commit(&store, &[alert("exfil", "open", &["hook"])], 0).await;
    commit(&store, &[alert("other", "open", &["hook"])], 0).await;
    // One worker claims both notices and sends them; meanwhile another worker's batch
    // withdraws one of them. The sink was told the version that no longer stands.
    let on_the_way = store.due_deliveries(at(1), 10).await.unwrap();
    assert_eq!(on_the_way.len(), 2);
    let withdrawn = AlertRow {
        withdrawn_because: Some("a late call shows 54.1.2.3 was the first address".to_owned()),
        ..alert("exfil", "withdrawn", &["hook"])
    };
    commit(&store, &[withdrawn], 2).await;
    assert!(
        store.due_deliveries(at(3), 10).await.unwrap().len() == 2,
        "nothing new while the notices are still on their way"
    );
    store
        .deliveries_done("hook", &on_the_way, at(3))
        .await
        .unwrap();
    let due = store.due_deliveries(at(4), 10).await.unwrap();
    let told: Vec<(&str, &str)> = due
        .iter()
        .map(|d| (d.alert.dedup_key.as_str(), d.alert.status.as_str()))
        .collect();
    assert_eq!(told, [("exfil", "withdrawn")], "the withdrawal follows");

    // A notice read after the withdrawal told the sink so already: nothing follows it.
    store.deliveries_done("hook", &due, at(5)).await.unwrap();
    commit(&store, &[alert("late", "open", &["hook"])], 6).await;
    commit(
        &store,
        &[AlertRow {
            withdrawn_because: Some("merged".to_owned()),
            ..alert("late", "withdrawn", &["hook"])
        }],
        7,
    )
    .await;
    let read_after = store.due_deliveries(at(8), 10).await.unwrap();
    assert_eq!(read_after.len(), 1);
    assert_eq!(read_after[0].alert.status, "withdrawn");
    store
        .deliveries_done("hook", &read_after, at(9))
        .await
        .unwrap();
    assert!(store.due_deliveries(at(10), 10).await.unwrap().is_empty());
}

on_both_backends!(alerts_are_paged_and_counted_newest_first);
async fn alerts_are_paged_and_counted_newest_first(db: &TestDb) {
    let store = db.open().await;
    let mut later = alert("k-b", "final", &[]);
    later.rule = "burst".to_owned();
    later.canary = Some("svc-etl-runner-51".to_owned());
    commit(
        &store,
        &[alert("k-a", "final", &[]), alert("k-c", "open", &[])],
        0,
    )
    .await;
    let batch = BatchCommit {
        source: "queue",
        checkpoint: Some("m-2"),
        alerts: std::slice::from_ref(&later),
        at: at(60),
    };
    store.commit_batch(&batch).await.unwrap();
    let trail = BatchCommit {
        source: "trail",
        checkpoint: Some("AWSLogs/2"),
        alerts: &[],
        ..batch
    };
    store.commit_batch(&trail).await.unwrap();

    let keys = |alerts: Vec<store::StoredAlert>| {
        alerts.into_iter().map(|a| a.dedup_key).collect::<Vec<_>>()
    };
    assert_eq!(store.recent_alerts(10).await.unwrap().len(), 3);
    assert_eq!(keys(store.recent_alerts(1).await.unwrap()), ["k-b"]);
    let all = store::AlertFilter::default();
    let first = store.alerts_page(&all, None, 2).await.unwrap();
    assert_eq!(keys(first.clone()), ["k-b", "k-c"]);
    let cursor = store::AlertCursor {
        detected_at: first[1].detected_at,
        dedup_key: first[1].dedup_key.clone(),
    };
    let rest = store.alerts_page(&all, Some(&cursor), 2).await.unwrap();
    assert_eq!(keys(rest), ["k-a"]);
    let filtered = |filter: store::AlertFilter| {
        let store = &store;
        async move { keys(store.alerts_page(&filter, None, 10).await.unwrap()) }
    };
    let rule = store::AlertFilter {
        rule: Some("canary-use".to_owned()),
        ..Default::default()
    };
    assert_eq!(filtered(rule).await, ["k-c", "k-a"]);
    let canary = store::AlertFilter {
        canary: Some("svc-etl-runner-51".to_owned()),
        severity: Some("critical".to_owned()),
        state: Some("open".to_owned()),
        since: Some(at(60)),
        until: Some(at(61)),
        ..Default::default()
    };
    assert_eq!(filtered(canary).await, ["k-b"]);
    let before = store::AlertFilter {
        until: Some(at(60)),
        ..Default::default()
    };
    assert_eq!(filtered(before).await, ["k-c", "k-a"]);

    assert_eq!(
        store.alert_counts_since(at(1)).await.unwrap(),
        [("burst".to_owned(), 1)]
    );
    assert_eq!(
        store.alert_counts_since(at(0)).await.unwrap(),
        [("burst".to_owned(), 1), ("canary-use".to_owned(), 2)]
    );
    assert_eq!(
        store.checkpoints().await.unwrap(),
        [
            ("queue".to_owned(), "m-2".to_owned(), at(60)),
            ("trail".to_owned(), "AWSLogs/2".to_owned(), at(60)),
        ]
    );
}

on_both_backends!(a_suppressed_alert_is_stored_and_shown_but_queues_no_delivery);
async fn a_suppressed_alert_is_stored_and_shown_but_queues_no_delivery(db: &TestDb) {
    let store = db.open().await;
    let made = store
        .create_suppression(
            &store::NewSuppression {
                rule: Some("access-denied-burst".to_owned()),
                source_cidr: Some("10.0.0.0/8".to_owned()),
                reason: "terraform plan in CI".to_owned(),
                expires_at: at(3_600),
                created_by: "cli".to_owned(),
                ..Default::default()
            },
            at(0),
        )
        .await
        .unwrap();
    assert!(
        made.id.starts_with("sup-") && made.id.len() == 16,
        "{}",
        made.id
    );
    assert_eq!(
        store.suppression(&made.id).await.unwrap().as_ref(),
        Some(&made)
    );

    let suppressed = AlertRow {
        suppressed_by: Some(made.id.clone()),
        ..alert("burst", "final", &["hook"])
    };
    let alerts = [suppressed, alert("other", "final", &["hook"])];
    assert_eq!(commit(&store, &alerts, 10).await, ["burst", "other"]);
    let due = store.due_deliveries(at(20), 100).await.unwrap();
    let keys: Vec<&str> = due.iter().map(|d| d.alert.dedup_key.as_str()).collect();
    assert_eq!(keys, ["other"], "no delivery for the suppressed alert");
    let stored = store.alert("burst").await.unwrap().unwrap();
    assert_eq!(stored.suppressed_by.as_deref(), Some(made.id.as_str()));
    let listed = |suppressed| {
        let store = &store;
        async move {
            let filter = store::AlertFilter {
                suppressed,
                ..Default::default()
            };
            let page = store.alerts_page(&filter, None, 10).await.unwrap();
            let mut keys: Vec<String> = page.into_iter().map(|a| a.dedup_key).collect();
            keys.sort();
            keys
        }
    };
    assert_eq!(listed(Some(true)).await, ["burst"]);
    assert_eq!(listed(Some(false)).await, ["other"]);
    assert_eq!(listed(None).await, ["burst", "other"]);

    // In force until it expires or is removed; the record stays.
    assert_eq!(
        store.suppressions(at(100), false).await.unwrap(),
        std::slice::from_ref(&made)
    );
    assert!(store
        .suppressions(at(3_600), false)
        .await
        .unwrap()
        .is_empty());
    let removed = store
        .remove_suppression(&made.id, "alice", at(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.removed_by.as_deref(), Some("alice"));
    assert!(store.suppressions(at(300), false).await.unwrap().is_empty());
    assert_eq!(store.suppressions(at(300), true).await.unwrap().len(), 1);
    assert!(store
        .remove_suppression(&made.id, "alice", at(400))
        .await
        .unwrap()
        .is_none());

    // One that has run out is over already: removing it finds none in force.
    let lapsed = store
        .create_suppression(
            &store::NewSuppression {
                rule: Some("access-denied-burst".to_owned()),
                reason: "short".to_owned(),
                expires_at: at(500),
                created_by: "alice".to_owned(),
                ..Default::default()
            },
            at(400),
        )
        .await
        .unwrap();
    assert!(store
        .remove_suppression(&lapsed.id, "alice", at(600))
        .await
        .unwrap()
        .is_none());
    let every = store.suppressions(at(600), true).await.unwrap();
    assert_eq!(every.len(), 2);
    assert_eq!(every[0].id, lapsed.id, "newest first");
    assert!(
        every[0].removed_at.is_none(),
        "it ran out; nobody removed it"
    );
}
