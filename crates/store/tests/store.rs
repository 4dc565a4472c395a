//! The store against both backends: real SQLite files in temp directories, and a database of
//! its own per test on a real PostgreSQL cluster. What only SQLite has (files, permissions,
//! locks, WAL) is tested on SQLite alone.

#[macro_use]
mod support;

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::Connection;
use store::{
    Backend, CanaryEventKind, CanaryFilter, CanaryId, CanaryKind, CanaryRecord, CanaryStatus,
    EventTime, Issuer, NewCanary, Secret, SecretKey, Store, StoreError,
};
use support::TestDb;

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T0: EventTime = EventTime(1_722_585_600_000);

fn at(minutes: i64) -> EventTime {
    T0.offset(minutes * EventTime::MINUTE)
}

fn new_canary(kind: CanaryKind, account: &str, key: &str) -> NewCanary {
    let id = CanaryId::generate();
    let name = format!("build-agent-{id}");
    let principal_arn = match kind {
        CanaryKind::IamUser => format!("arn:aws:iam::{account}:user/svc/{name}"),
        CanaryKind::Federation => format!("arn:aws:sts::{account}:federated-user/{name}"),
        CanaryKind::RoleSession => format!("arn:aws:sts::{account}:assumed-role/deploy/{name}"),
    };
    NewCanary {
        id,
        kind,
        issuer: Issuer::Aws,
        account_id: account.to_owned(),
        access_key_id: key.to_owned(),
        principal_arn,
        name,
        path: "/svc/".to_owned(),
        labels: BTreeMap::from([
            ("owner".to_owned(), "alice".to_owned()),
            ("host".to_owned(), "ci-7".to_owned()),
        ]),
        memo: Some("in ~/.aws/credentials of the CI runner".to_owned()),
        created_at: T0,
        expires_at: (kind != CanaryKind::IamUser).then(|| at(36 * 60)),
        issued_by: None,
    }
}

async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("tripkey.db")).await.unwrap();
    (dir, store)
}

on_both_backends!(insert_and_get_round_trip);
async fn insert_and_get_round_trip(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    let record = store.insert(&new, None).await.unwrap();
    let expected = CanaryRecord {
        id: new.id.clone(),
        kind: CanaryKind::IamUser,
        issuer: Issuer::Aws,
        account_id: ACCOUNT.to_owned(),
        access_key_id: new.access_key_id.clone(),
        principal_arn: new.principal_arn.clone(),
        name: new.name.clone(),
        path: "/svc/".to_owned(),
        labels: new.labels.clone(),
        memo: new.memo.clone(),
        created_at: T0,
        expires_at: None,
        rotated_at: None,
        revoked_at: None,
        status: CanaryStatus::Active,
        last_alert_at: None,
        secret_kept: false,
        issued_by: None,
    };
    assert_eq!(record, expected);
    assert_eq!(store.get(&new.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        store
            .get_by_access_key_id(&new.access_key_id)
            .await
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.get_by_name(&new.name).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.get(&CanaryId::generate()).await.unwrap(), None);
    assert_eq!(
        store
            .get_by_access_key_id("AKIAQAAAAAAAAAAAAAA2")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.get_by_name("nobody").await.unwrap(), None);

    let history = store.history(&new.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, CanaryEventKind::Issued);
    assert_eq!(history[0].at, T0);
    assert_eq!(history[0].detail["access_key_id"], "AKIAQAAAAAAAAAAAAAA1");

    // Serializable for `--format json` and the API, times as RFC 3339.
    let json = serde_json::to_value(&expected).unwrap();
    assert_eq!(json["kind"], "iam-user");
    assert_eq!(json["status"], "active");
    assert_eq!(json["issuer"], "aws");
    assert_eq!(json["created_at"], "2024-08-02T08:00:00Z");
    assert_eq!(
        serde_json::from_value::<CanaryRecord>(json).unwrap(),
        expected
    );
}

on_both_backends!(duplicate_ids_and_names_are_refused_without_leftovers);
async fn duplicate_ids_and_names_are_refused_without_leftovers(db: &TestDb) {
    let store = db.open().await;
    let first = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&first, None).await.unwrap();
    let mut same_name = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA2");
    same_name.name = first.name.clone();
    let err = store.insert(&same_name, None).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert_eq!(store.get(&same_name.id).await.unwrap(), None);
    assert_eq!(
        store
            .get_by_access_key_id("AKIAQAAAAAAAAAAAAAA2")
            .await
            .unwrap(),
        None
    );
}

on_both_backends!(list_filters_combine);
async fn list_filters_combine(db: &TestDb) {
    let store = db.open().await;
    let a = store
        .insert(
            &new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1"),
            None,
        )
        .await
        .unwrap();
    let mut b = new_canary(CanaryKind::Federation, ACCOUNT, "ASIAQAAAAAAAAAAAAAA2");
    b.labels.insert("owner".to_owned(), "bob".to_owned());
    b.labels
        .insert("location".to_owned(), "laptop \"x\"".to_owned());
    b.created_at = at(1);
    let b = store.insert(&b, None).await.unwrap();
    let mut c = new_canary(
        CanaryKind::RoleSession,
        OTHER_ACCOUNT,
        "ASIAQAAAAAAAAAAAAAA3",
    );
    c.issuer = Issuer::Offline;
    c.created_at = at(2);
    let c = store.insert(&c, None).await.unwrap();
    let revoked = store.revoke(&a.id, at(3), json!({})).await.unwrap();

    let ids = |records: Vec<CanaryRecord>| {
        records
            .into_iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    };
    let list = |filter: CanaryFilter| {
        let store = &store;
        async move { ids(store.list(&filter).await.unwrap()) }
    };
    assert_eq!(
        list(CanaryFilter::default()).await,
        [a.id.as_str(), b.id.as_str(), c.id.as_str()]
    );
    let status = |status| CanaryFilter {
        status: Some(status),
        ..Default::default()
    };
    assert_eq!(
        list(status(CanaryStatus::Active)).await,
        [b.id.as_str(), c.id.as_str()]
    );
    assert_eq!(
        list(status(CanaryStatus::Revoked)).await,
        [revoked.id.as_str()]
    );
    let kind = CanaryFilter {
        kind: Some(CanaryKind::Federation),
        ..Default::default()
    };
    assert_eq!(list(kind).await, [b.id.as_str()]);
    let account = CanaryFilter {
        account_id: Some(OTHER_ACCOUNT.to_owned()),
        ..Default::default()
    };
    assert_eq!(list(account).await, [c.id.as_str()]);
    let offline = CanaryFilter {
        issuer: Some(Issuer::Offline),
        ..Default::default()
    };
    let offline = store.list(&offline).await.unwrap();
    assert_eq!(ids(offline.clone()), [c.id.as_str()]);
    assert!(offline[0].issuer.is_offline());

    let label = |pairs: &[(&str, &str)]| CanaryFilter {
        labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    assert_eq!(
        list(label(&[("owner", "alice")])).await,
        [a.id.as_str(), c.id.as_str()]
    );
    assert_eq!(
        list(label(&[("location", "laptop \"x\"")])).await,
        [b.id.as_str()]
    );
    assert_eq!(
        list(label(&[("owner", "alice"), ("host", "ci-7")]))
            .await
            .len(),
        2
    );
    assert!(list(label(&[("owner", "alice"), ("host", "other")]))
        .await
        .is_empty());
    assert!(list(label(&[("owner", "mallory")])).await.is_empty());
    let both = CanaryFilter {
        status: Some(CanaryStatus::Active),
        account_id: Some(ACCOUNT.to_owned()),
        labels: vec![("host".to_owned(), "ci-7".to_owned())],
        ..Default::default()
    };
    assert_eq!(list(both).await, [b.id.as_str()]);

    // Text is matched as typed, case and wildcards included, in names and keys.
    let text = |text: &str| CanaryFilter {
        text: Some(text.to_owned()),
        ..Default::default()
    };
    assert_eq!(list(text("AAAA3")).await, [c.id.as_str()]);
    assert_eq!(list(text("ASIA")).await, [b.id.as_str(), c.id.as_str()]);
    assert_eq!(list(text(b.id.as_str())).await, [b.id.as_str()]);
    assert!(list(text("asia")).await.is_empty());
    assert!(list(text("%")).await.is_empty());
    assert!(list(text("_")).await.is_empty());

    // Pages follow the order of the whole list.
    let cursor = store::CanaryCursor {
        created_at: a.created_at,
        id: a.id.clone(),
    };
    let page = store
        .list_page(&CanaryFilter::default(), Some(&cursor), 1)
        .await
        .unwrap();
    assert_eq!(ids(page), [b.id.as_str()]);
}

on_both_backends!(rotation_retires_the_old_key_which_still_finds_its_canary);
async fn rotation_retires_the_old_key_which_still_finds_its_canary(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAOLD");
    store.insert(&new, None).await.unwrap();
    let rotated = store
        .rotate(&new.id, "AKIAQAAAAAAAAAAAANEW", None, at(10))
        .await
        .unwrap();
    assert_eq!(rotated.access_key_id, "AKIAQAAAAAAAAAAAANEW");
    assert_eq!(rotated.rotated_at, Some(at(10)));
    assert_eq!(rotated.status, CanaryStatus::Active);
    for key in ["AKIAQAAAAAAAAAAAAOLD", "AKIAQAAAAAAAAAAAANEW"] {
        let found = store.get_by_access_key_id(key).await.unwrap().unwrap();
        assert_eq!(found.id, new.id, "{key}");
    }
    let keys = store.keys(&new.id).await.unwrap();
    assert_eq!(keys.len(), 2);
    let other = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAOTHER");
    store.insert(&other, None).await.unwrap();
    let all = store.all_keys().await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().filter(|key| key.canary_id == new.id).count(),
        2,
        "both keys of the rotated canary, with its neighbour's"
    );
    assert_eq!(
        (keys[0].access_key_id.as_str(), keys[0].retired_at),
        ("AKIAQAAAAAAAAAAAAOLD", Some(at(10)))
    );
    assert_eq!(
        (keys[1].access_key_id.as_str(), keys[1].retired_at),
        ("AKIAQAAAAAAAAAAAANEW", None)
    );

    // The old key is deleted once the grace period is over, and only then.
    assert!(store
        .keys_awaiting_deletion(at(9))
        .await
        .unwrap()
        .is_empty());
    let due = store.keys_awaiting_deletion(at(70)).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].access_key_id, "AKIAQAAAAAAAAAAAAOLD");
    store
        .mark_key_deleted(&new.id, "AKIAQAAAAAAAAAAAAOLD", at(70))
        .await
        .unwrap();
    store
        .mark_key_deleted(&new.id, "AKIAQAAAAAAAAAAAAOLD", at(71))
        .await
        .unwrap();
    assert!(store
        .keys_awaiting_deletion(at(80))
        .await
        .unwrap()
        .is_empty());
    let err = store
        .mark_key_deleted(&new.id, "AKIAQAAAAAAAAAAAXXXX", at(72))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::KeyNotFound { .. }), "{err}");

    let history = store.history(&new.id).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            CanaryEventKind::Issued,
            CanaryEventKind::Rotated,
            CanaryEventKind::KeyDeleted
        ]
    );
    assert_eq!(
        history[1].detail,
        json!({"old_access_key_id": "AKIAQAAAAAAAAAAAAOLD", "new_access_key_id": "AKIAQAAAAAAAAAAAANEW"})
    );
    assert_eq!(
        history[2].detail,
        json!({"access_key_id": "AKIAQAAAAAAAAAAAAOLD"})
    );
}

on_both_backends!(renewal_sets_new_key_and_expiry_and_revives_expired_canaries);
async fn renewal_sets_new_key_and_expiry_and_revives_expired_canaries(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::Federation, ACCOUNT, "ASIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    let expired = store.mark_expired(&new.id, at(36 * 60)).await.unwrap();
    assert_eq!(expired.status, CanaryStatus::Expired);
    let renewed = store
        .renew(
            &new.id,
            "ASIAQAAAAAAAAAAAAAA2",
            Some(at(72 * 60)),
            None,
            at(36 * 60 + 1),
        )
        .await
        .unwrap();
    assert_eq!(renewed.access_key_id, "ASIAQAAAAAAAAAAAAAA2");
    assert_eq!(renewed.expires_at, Some(at(72 * 60)));
    assert_eq!(renewed.status, CanaryStatus::Active);
    assert_eq!(renewed.rotated_at, None);
    // Session keys cannot be deleted, so they never wait for deletion.
    assert!(store
        .keys_awaiting_deletion(at(100 * 60))
        .await
        .unwrap()
        .is_empty());
    let old = store
        .get_by_access_key_id("ASIAQAAAAAAAAAAAAAA1")
        .await
        .unwrap();
    assert_eq!(old.unwrap().id, new.id);

    // A triggered canary stays triggered when renewed.
    store
        .mark_triggered(&new.id, at(37 * 60), json!({}))
        .await
        .unwrap();
    let renewed = store
        .renew(
            &new.id,
            "ASIAQAAAAAAAAAAAAAA3",
            Some(at(108 * 60)),
            None,
            at(70 * 60),
        )
        .await
        .unwrap();
    assert_eq!(renewed.status, CanaryStatus::Triggered);

    let history = store.history(&new.id).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    use CanaryEventKind::*;
    assert_eq!(kinds, [Issued, Expired, Renewed, Triggered, Renewed]);
    assert_eq!(
        history[2].detail["new_access_key_id"],
        "ASIAQAAAAAAAAAAAAAA2"
    );
    assert_eq!(history[2].detail["expires_at"], "2024-08-05T08:00:00Z");
}

on_both_backends!(triggering_and_last_alert);
async fn triggering_and_last_alert(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    let detail = json!({"event_id": "4b8c-1", "source_ip": "203.0.113.9"});
    let triggered = store
        .mark_triggered(&new.id, at(5), detail.clone())
        .await
        .unwrap();
    assert_eq!(triggered.status, CanaryStatus::Triggered);
    store
        .mark_triggered(&new.id, at(6), json!({}))
        .await
        .unwrap();

    store.set_last_alert_at(&new.id, at(6)).await.unwrap();
    // A replayed, older alert does not move it back.
    store.set_last_alert_at(&new.id, at(2)).await.unwrap();
    let record = store.get(&new.id).await.unwrap().unwrap();
    assert_eq!(record.last_alert_at, Some(at(6)));
    store.set_last_alert_at(&new.id, at(9)).await.unwrap();
    assert_eq!(
        store.get(&new.id).await.unwrap().unwrap().last_alert_at,
        Some(at(9))
    );

    let history = store.history(&new.id).await.unwrap();
    assert_eq!(history[1].kind, CanaryEventKind::Triggered);
    assert_eq!(history[1].detail, detail);
    assert_eq!(history.len(), 3);

    let missing = CanaryId::generate();
    assert!(matches!(
        store.set_last_alert_at(&missing, at(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.mark_triggered(&missing, at(1), json!({})).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.history(&missing).await,
        Err(StoreError::NotFound(_))
    ));
}

on_both_backends!(revocation_keeps_record_and_history);
async fn revocation_keeps_record_and_history(db: &TestDb) {
    let key = SecretKey::generate();
    let store = db.open().await.with_secret_key(key);
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store
        .insert(&new, Some(&Secret::new(SECRET)))
        .await
        .unwrap();
    store
        .mark_triggered(&new.id, at(5), json!({"event_id": "e1"}))
        .await
        .unwrap();
    let reason = json!({"reason": "deactivate after trigger"});
    let revoked = store.revoke(&new.id, at(6), reason.clone()).await.unwrap();
    assert_eq!(revoked.status, CanaryStatus::Revoked);
    assert_eq!(revoked.revoked_at, Some(at(6)));
    // The secret of a deleted key is worth nothing but harm.
    assert!(!revoked.secret_kept);
    assert_eq!(store.secret(&new.id).await.unwrap(), None);

    // Revoking again changes nothing.
    let again = store.revoke(&new.id, at(9), json!({})).await.unwrap();
    assert_eq!(again, revoked);

    assert_eq!(store.get(&new.id).await.unwrap(), Some(revoked.clone()));
    let by_key = store
        .get_by_access_key_id("AKIAQAAAAAAAAAAAAAA1")
        .await
        .unwrap();
    assert_eq!(by_key, Some(revoked.clone()));
    let history = store.history(&new.id).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    use CanaryEventKind::*;
    assert_eq!(kinds, [Issued, Triggered, Revoked]);
    assert_eq!(history[2].detail, reason);
    let keys = store.keys(&new.id).await.unwrap();
    assert_eq!(keys[0].deleted_at, Some(at(6)));

    let err = store
        .rotate(&new.id, "AKIAQAAAAAAAAAAAAAA2", None, at(10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Revoked(_)), "{err}");
    let err = store
        .renew(&new.id, "ASIA", None, None, at(10))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("issue a new canary"), "{err}");
    // A use of a revoked canary is still recorded, without reviving it.
    let used = store
        .mark_triggered(&new.id, at(11), json!({}))
        .await
        .unwrap();
    assert_eq!(used.status, CanaryStatus::Revoked);
    assert!(matches!(
        store.revoke(&CanaryId::generate(), at(1), json!({})).await,
        Err(StoreError::NotFound(_))
    ));
}

on_both_backends!(history_is_chronological_then_in_recording_order);
async fn history_is_chronological_then_in_recording_order(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    // A use found in a log delivered late is recorded after a rotation that followed it.
    store
        .rotate(&new.id, "AKIAQAAAAAAAAAAAAAA2", None, at(20))
        .await
        .unwrap();
    store
        .mark_triggered(&new.id, at(15), json!({"n": 1}))
        .await
        .unwrap();
    store
        .mark_triggered(&new.id, at(20), json!({"n": 2}))
        .await
        .unwrap();
    store
        .mark_triggered(&new.id, at(20), json!({"n": 3}))
        .await
        .unwrap();
    let history = store.history(&new.id).await.unwrap();
    let seen: Vec<_> = history
        .iter()
        .map(|e| (e.at, e.kind, e.detail["n"].clone()))
        .collect();
    use CanaryEventKind::*;
    assert_eq!(
        seen,
        [
            (T0, Issued, json!(null)),
            (at(15), Triggered, json!(1)),
            (at(20), Rotated, json!(null)),
            (at(20), Triggered, json!(2)),
            (at(20), Triggered, json!(3)),
        ]
    );
    assert!(history.iter().all(|e| e.canary_id == new.id));
}

on_both_backends!(capacity_counts_live_canaries_of_the_account);
async fn capacity_counts_live_canaries_of_the_account(db: &TestDb) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let key = format!("AKIAQAAAAAAAAAAAAAA{n}");
        ids.push(
            store
                .insert(&new_canary(CanaryKind::IamUser, ACCOUNT, &key), None)
                .await
                .unwrap()
                .id,
        );
    }
    store
        .insert(
            &new_canary(CanaryKind::Federation, ACCOUNT, "ASIAQAAAAAAAAAAAAAA9"),
            None,
        )
        .await
        .unwrap();
    store
        .insert(
            &new_canary(CanaryKind::IamUser, OTHER_ACCOUNT, "AKIAQAAAAAAAAAAAAAB1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .count_active(ACCOUNT, Some(CanaryKind::IamUser))
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.count_active(ACCOUNT, None).await.unwrap(), 6);

    store.revoke(&ids[0], at(1), json!({})).await.unwrap();
    store.mark_expired(&ids[1], at(1)).await.unwrap();
    // A triggered canary keeps its IAM user, so it still takes a slot.
    store
        .mark_triggered(&ids[2], at(1), json!({}))
        .await
        .unwrap();
    assert_eq!(
        store
            .count_active(ACCOUNT, Some(CanaryKind::IamUser))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .count_active(OTHER_ACCOUNT, Some(CanaryKind::IamUser))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_active(OTHER_ACCOUNT, Some(CanaryKind::Federation))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.count_active("999999999999", None).await.unwrap(), 0);
}

on_both_backends!(kept_secrets_are_encrypted_and_need_the_right_key);
async fn kept_secrets_are_encrypted_and_need_the_right_key(db: &TestDb) {
    let key = SecretKey::generate();
    let store = db.open().await.with_secret_key(key.clone());
    let kept = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    let record = store
        .insert(&kept, Some(&Secret::new(SECRET)))
        .await
        .unwrap();
    assert!(record.secret_kept);
    assert_eq!(
        store.secret(&kept.id).await.unwrap().unwrap().expose(),
        SECRET
    );
    let plain = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA2");
    store.insert(&plain, None).await.unwrap();
    assert_eq!(store.secret(&plain.id).await.unwrap(), None);

    // Rotation replaces the kept secret; rotating without keeping drops it.
    let rotated = store
        .rotate(
            &kept.id,
            "AKIAQAAAAAAAAAAAAAA3",
            Some(&Secret::new("second/secret")),
            at(1),
        )
        .await
        .unwrap();
    assert!(rotated.secret_kept);
    assert_eq!(
        store.secret(&kept.id).await.unwrap().unwrap().expose(),
        "second/secret"
    );
    store.close().await;

    // The secret never reaches the database in clear: not an SQLite file, not a column.
    if let Some(dir) = db.sqlite_dir() {
        for file in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(13).any(|w| w == b"second/secret"));
            assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
        }
    } else {
        let clear = db
            .count(
                "SELECT COUNT(*) FROM canaries \
                 WHERE position(convert_to('second/secret', 'UTF8') IN sealed_secret) > 0",
            )
            .await;
        assert_eq!(clear, 0);
    }

    let wrong = db.open().await.with_secret_key(SecretKey::generate());
    let err = wrong.secret(&kept.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err}");
    assert!(
        err.to_string().contains("not the one it was stored with"),
        "{err}"
    );
    let keyless = db.open().await;
    assert!(matches!(
        keyless.secret(&kept.id).await,
        Err(StoreError::NoSecretKey(_))
    ));
    let err = keyless
        .rotate(
            &kept.id,
            "AKIAQAAAAAAAAAAAAAA4",
            Some(&Secret::new("x")),
            at(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSecretKey(_)), "{err}");
    let lost = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA5");
    assert!(keyless
        .insert(&lost, Some(&Secret::new(SECRET)))
        .await
        .is_err());
    assert_eq!(keyless.get(&lost.id).await.unwrap(), None);

    let right = db.open().await.with_secret_key(key);
    assert_eq!(
        right.secret(&kept.id).await.unwrap().unwrap().expose(),
        "second/secret"
    );
    let dropped = right
        .rotate(&kept.id, "AKIAQAAAAAAAAAAAAAA6", None, at(3))
        .await
        .unwrap();
    assert!(!dropped.secret_kept);
    assert_eq!(right.secret(&kept.id).await.unwrap(), None);
}

on_both_backends!(reopening_is_idempotent);
async fn reopening_is_idempotent(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(store.get(&new.id).await.unwrap().unwrap().id, new.id);
        assert_eq!(store.history(&new.id).await.unwrap().len(), 1);
        store.close().await;
    }
    let applied = db.count("SELECT COUNT(*) FROM _sqlx_migrations").await;
    assert_eq!(applied, i64::try_from(db.migrations()).unwrap());
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let (dir, store) = temp_store().await;
    store.close().await;
    let url = format!("sqlite://{}", dir.path().join("tripkey.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[cfg(unix)]
#[tokio::test]
async fn new_directories_and_file_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/tripkey/tripkey.db");
    Store::open(&path).await.unwrap().close().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/tripkey")), 0o700);
    assert_eq!(mode(&path), 0o600);
}

on_both_backends!(newer_schema_is_refused);
async fn newer_schema_is_refused(db: &TestDb) {
    db.open().await.close().await;
    let checksum = match db.backend() {
        Backend::Sqlite => "x'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    db.execute(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, {checksum}, 0)"
    ))
    .await;
    let err = Store::connect(db.url()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 99990101000000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade tripkey"), "{err}");
}

on_both_backends!(databases_of_other_programs_are_refused);
async fn databases_of_other_programs_are_refused(db: &TestDb) {
    db.execute("CREATE TABLE photos (id INTEGER)").await;
    let err = Store::connect(db.url()).await.unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err}");
    assert!(
        err.to_string().contains("a database of another program"),
        "{err}"
    );
    // Nothing of tripkey's was written into it.
    let tables = match db.backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()",
    };
    assert_eq!(db.count(tables).await, 1);
}

#[tokio::test]
async fn files_that_are_not_tripkey_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "x".repeat(4096)).unwrap();
    let err = Store::open(&text).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert!(
        err.to_string().contains("is not a tripkey database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_is_reported_as_such() {
    let (dir, store) = temp_store().await;
    let url = format!("sqlite://{}", dir.path().join("tripkey.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    let err = store.insert(&new, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    store.insert(&new, None).await.unwrap();
}

#[tokio::test]
async fn in_memory_store_works_across_calls() {
    let store = Store::open_in_memory().await.unwrap();
    let new = new_canary(CanaryKind::RoleSession, ACCOUNT, "ASIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    assert_eq!(store.list(&CanaryFilter::default()).await.unwrap().len(), 1);
    assert_eq!(store.path(), std::path::Path::new(":memory:"));
    assert_eq!(store.backend(), Backend::Sqlite);
}

#[tokio::test]
async fn sqlite_urls_and_paths_open_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tripkey.db");
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    Store::open(&path)
        .await
        .unwrap()
        .insert(&new, None)
        .await
        .unwrap();
    for url in [
        format!("sqlite:{}", path.display()),
        format!("sqlite://{}", path.display()),
        path.display().to_string(),
    ] {
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert_eq!(store.backend().as_str(), "sqlite");
        assert_eq!(store.path(), path, "{url}");
        assert_eq!(store.location(), path.display().to_string());
        assert!(store.get(&new.id).await.unwrap().is_some(), "{url}");
        store.close().await;
    }
    let memory = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(memory.location(), ":memory:");
    assert!(memory.get(&new.id).await.unwrap().is_none());
}

#[tokio::test]
async fn postgres_locations_never_show_the_password() {
    let db = TestDb::new(Backend::Postgres).await;
    // The test cluster trusts loopback connections, so any password is accepted.
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_password(Some("hunter2-not-shown")).unwrap();
    let store = Store::connect(url.as_str()).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    assert_eq!(store.backend().as_str(), "postgres");
    let location = store.location();
    assert!(location.contains(":***@"), "{location}");
    assert!(!location.contains("hunter2"), "{location}");
    assert_eq!(store.path(), std::path::Path::new(&location));
    store.close().await;

    let mut missing = url.clone();
    missing.set_path("/tripkey_test_no_such_database");
    let err = Store::connect(missing.as_str()).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("no_such_database"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
    db.finish().await;
}

on_both_backends!(concurrent_changes_of_one_canary_are_applied_one_after_the_other);
async fn concurrent_changes_of_one_canary_are_applied_one_after_the_other(db: &TestDb) {
    let store = db.open().await;
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAA000");
    store.insert(&new, None).await.unwrap();
    let rotations = (1..=4).map(|n| {
        let store = store.clone();
        let id = new.id.clone();
        tokio::spawn(async move {
            let key = format!("AKIAQAAAAAAAAAAAA00{n}");
            store.rotate(&id, &key, None, at(n)).await.unwrap();
        })
    });
    for rotation in rotations.collect::<Vec<_>>() {
        rotation.await.unwrap();
    }
    // Every rotation retired the key the one before it put in: one key is left current.
    let current = store.get(&new.id).await.unwrap().unwrap().access_key_id;
    let keys = store.keys(&new.id).await.unwrap();
    assert_eq!(keys.len(), 5);
    let live: Vec<_> = keys
        .iter()
        .filter(|key| key.retired_at.is_none())
        .map(|key| key.access_key_id.as_str())
        .collect();
    assert_eq!(live, [current.as_str()]);

    let deletions = (0..4).map(|_| {
        let store = store.clone();
        let id = new.id.clone();
        tokio::spawn(async move {
            store
                .mark_key_deleted(&id, "AKIAQAAAAAAAAAAAA000", at(100))
                .await
                .unwrap();
        })
    });
    for deletion in deletions.collect::<Vec<_>>() {
        deletion.await.unwrap();
    }
    let history = store.history(&new.id).await.unwrap();
    let count = |kind| history.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count(CanaryEventKind::Rotated), 4);
    assert_eq!(count(CanaryEventKind::KeyDeleted), 1, "deleted once");
}

on_both_backends!(api_records_round_trip);
async fn api_records_round_trip(db: &TestDb) {
    use store::{AuditOutcome, NewAuditEntry, NewPlacement};

    let store = db.open().await;
    let canary = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&canary, None).await.unwrap();
    let mut other = new_canary(
        CanaryKind::Federation,
        OTHER_ACCOUNT,
        "ASIAQAAAAAAAAAAAAAA2",
    );
    other.issued_by = Some("ci-issuer".to_owned());
    store.insert(&other, None).await.unwrap();

    // The audit log, newest first, in pages.
    let mut ids = Vec::new();
    for (n, outcome) in [
        AuditOutcome::Allowed,
        AuditOutcome::Denied,
        AuditOutcome::Failed,
    ]
    .into_iter()
    .enumerate()
    {
        let n = i64::try_from(n).unwrap();
        let entry = NewAuditEntry {
            at: at(n),
            actor: "ci-issuer",
            scope: "issuer",
            action: "canary.create",
            object: (n == 0).then_some(canary.id.as_str()),
            address: Some("203.0.113.7"),
            outcome,
            detail: json!({"n": n}),
        };
        ids.push(store.audit(&entry).await.unwrap());
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    let log = store.audit_log(None, 2).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [AuditOutcome::Failed, AuditOutcome::Denied]
    );
    let older = store.audit_log(Some(log[1].id), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].object.as_deref(), Some(canary.id.as_str()));
    assert_eq!(older[0].detail, json!({"n": 0}));
    assert_eq!(older[0].at, at(0));

    // Placements, and a canary that does not exist.
    let placement = NewPlacement {
        host: Some("ci-7".to_owned()),
        path: Some("/home/ci/.aws/credentials".to_owned()),
        format: Some("aws-credentials".to_owned()),
        os: Some("linux".to_owned()),
        user: Some("ci".to_owned()),
    };
    let first = store
        .add_placement(&canary.id, &placement, Some("ci-issuer"), at(1))
        .await
        .unwrap();
    assert_eq!(first.user.as_deref(), Some("ci"));
    assert_eq!(first.created_by.as_deref(), Some("ci-issuer"));
    let second = store
        .add_placement(&canary.id, &NewPlacement::default(), None, at(2))
        .await
        .unwrap();
    let listed = store.placements(&canary.id).await.unwrap();
    assert_eq!(listed, [first.clone(), second.clone()]);
    assert!(store
        .remove_placement(&canary.id, &first.id, at(3))
        .await
        .unwrap());
    assert!(!store
        .remove_placement(&canary.id, &first.id, at(4))
        .await
        .unwrap());
    assert_eq!(store.placements(&canary.id).await.unwrap(), [second]);
    let missing = CanaryId::generate();
    assert!(matches!(
        store.add_placement(&missing, &placement, None, at(5)).await,
        Err(StoreError::NotFound(_))
    ));

    // Idempotency keys: the first request wins until its record is older than `since`.
    assert!(store
        .remember_idempotency_key("ci-issuer", "k1", &canary.id, at(0), at(-60))
        .await
        .unwrap());
    assert!(!store
        .remember_idempotency_key("ci-issuer", "k1", &other.id, at(1), at(-59))
        .await
        .unwrap());
    assert_eq!(
        store
            .idempotent_canary("ci-issuer", "k1", at(-60))
            .await
            .unwrap(),
        Some(canary.id.clone())
    );
    assert_eq!(
        store
            .idempotent_canary("ci-issuer", "k1", at(1))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .remember_idempotency_key("ci-issuer", "k1", &other.id, at(90), at(30))
        .await
        .unwrap());
    assert_eq!(
        store
            .idempotent_canary("ci-issuer", "k1", at(30))
            .await
            .unwrap(),
        Some(other.id.clone())
    );

    // The overview's counts, and the filter by issuing token.
    let counts = store.canary_counts().await.unwrap();
    let counts: Vec<_> = counts
        .iter()
        .map(|c| (c.account_id.as_str(), c.kind.as_str(), c.count))
        .collect();
    assert_eq!(
        counts,
        [(ACCOUNT, "iam-user", 1), (OTHER_ACCOUNT, "federation", 1)]
    );
    let by_token = CanaryFilter {
        issued_by: Some("ci-issuer".to_owned()),
        ..Default::default()
    };
    let issued = store.list(&by_token).await.unwrap();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].issued_by.as_deref(), Some("ci-issuer"));
}

#[test]
fn default_path_is_per_user() {
    let path = store::default_path().expect("tests run with a home directory");
    assert!(path.ends_with("tripkey/tripkey.db"), "{}", path.display());
    assert!(path.is_absolute());
}
