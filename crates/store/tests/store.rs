//! The store against real SQLite files in temp directories.

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::Connection;
use store::{
    CanaryEventKind, CanaryFilter, CanaryId, CanaryKind, CanaryRecord, CanaryStatus, EventTime,
    Issuer, NewCanary, Secret, SecretKey, Store, StoreError,
};

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

#[tokio::test]
async fn insert_and_get_round_trip() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn duplicate_ids_and_names_are_refused_without_leftovers() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn list_filters_combine() {
    let (_dir, store) = temp_store().await;
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
}

#[tokio::test]
async fn rotation_retires_the_old_key_which_still_finds_its_canary() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn renewal_sets_new_key_and_expiry_and_revives_expired_canaries() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn triggering_and_last_alert() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn revocation_keeps_record_and_history() {
    let key = SecretKey::generate();
    let (_dir, store) = temp_store().await;
    let store = store.with_secret_key(key);
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

#[tokio::test]
async fn history_is_chronological_then_in_recording_order() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn capacity_counts_live_canaries_of_the_account() {
    let (_dir, store) = temp_store().await;
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

#[tokio::test]
async fn kept_secrets_are_encrypted_and_need_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tripkey.db");
    let key = SecretKey::generate();
    let store = Store::open(&path)
        .await
        .unwrap()
        .with_secret_key(key.clone());
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

    // The secret never reaches the file in clear.
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"second/secret"));
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }

    let wrong = Store::open(&path)
        .await
        .unwrap()
        .with_secret_key(SecretKey::generate());
    let err = wrong.secret(&kept.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Decryption(_)), "{err}");
    assert!(
        err.to_string().contains("not the one it was stored with"),
        "{err}"
    );
    let keyless = Store::open(&path).await.unwrap();
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

    let right = Store::open(&path).await.unwrap().with_secret_key(key);
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

#[tokio::test]
async fn reopening_is_idempotent_and_wal_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tripkey.db");
    let store = Store::open(&path).await.unwrap();
    let new = new_canary(CanaryKind::IamUser, ACCOUNT, "AKIAQAAAAAAAAAAAAAA1");
    store.insert(&new, None).await.unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.get(&new.id).await.unwrap().unwrap().id, new.id);
        assert_eq!(store.history(&new.id).await.unwrap().len(), 1);
        store.close().await;
    }

    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap();
    assert_eq!(applied, i64::try_from(files.count()).unwrap());
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

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tripkey.db");
    Store::open(&path).await.unwrap().close().await;
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let err = Store::open(&path).await.unwrap_err();
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

    let other = dir.path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", other.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE photos (id INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = Store::open(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err}");
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
}

#[test]
fn default_path_is_per_user() {
    let path = store::default_path().expect("tests run with a home directory");
    assert!(path.ends_with("tripkey/tripkey.db"), "{}", path.display());
    assert!(path.is_absolute());
}
