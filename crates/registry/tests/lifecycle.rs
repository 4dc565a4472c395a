//! Rotation, renewal, the last-used safety net and what a use changes, over a real SQLite
//! store with the offline issuer. The same paths against AWS (moto) are tested in
//! `tripkey/tests/canary_aws.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use detect::Span;
use keys::AccountId;
use registry::{
    AfterTrigger, CanaryService, CreateRequest, IssueError, KeyUse, OfflineIssuer, ReportedKey,
    ServiceError, Settings, UsageLookup, UserUsage,
};
use store::{CanaryKind, CanaryStatus, SecretKey, Store};
use trail::EventTime;

const ACCOUNT: &str = "111122223333";
const HOUR: i64 = 3_600_000;

async fn service(folder: &tempfile::TempDir, settings: Settings) -> CanaryService<OfflineIssuer> {
    let store = Store::open(folder.path().join("tripkey.db"))
        .await
        .unwrap()
        .with_secret_key(SecretKey::generate());
    let issuer = OfflineIssuer::seeded(ACCOUNT.parse::<AccountId>().unwrap(), 11);
    CanaryService::new(store, issuer, settings)
}

fn request(kind: CanaryKind, keep_secret: bool) -> CreateRequest {
    CreateRequest {
        kind,
        labels: [("host".to_owned(), "build-07".to_owned())].into(),
        memo: None,
        keep_secret,
        name: None,
        issued_by: None,
    }
}

#[tokio::test]
async fn rotation_keeps_the_old_key_through_its_grace_period_then_deletes_it() {
    let folder = tempfile::tempdir().unwrap();
    let settings = Settings {
        rotation_grace: Span::hours(24),
        ..Settings::default()
    };
    let service = service(&folder, settings).await;
    let created = service
        .create(request(CanaryKind::IamUser, true))
        .await
        .unwrap();
    let old_key = created.record.access_key_id.clone();
    let rotated = service.rotate(&created.record.name).await.unwrap();
    assert_eq!(rotated.replaced_key, old_key);
    assert_ne!(rotated.record.access_key_id, old_key);
    assert_eq!(rotated.record.principal_arn, created.record.principal_arn);
    assert!(rotated.deleted_early.is_empty());
    let kept = service.store().secret(&created.record.id).await.unwrap();
    assert_eq!(
        kept.unwrap().expose(),
        rotated.credentials.secret_access_key.expose(),
        "the kept secret follows the new key"
    );

    let watched = registry::watch_list(service.store()).await.unwrap();
    assert_eq!(
        watched[0].former_access_key_ids,
        std::slice::from_ref(&old_key)
    );

    let rotated_at = rotated.record.rotated_at.unwrap();
    let early = service
        .maintain(rotated_at.offset(23 * HOUR))
        .await
        .unwrap();
    assert!(early.keys_deleted.is_empty(), "{early:?}");
    let late = service
        .maintain(rotated_at.offset(25 * HOUR))
        .await
        .unwrap();
    assert_eq!(late.keys_deleted, [(created.record.name.clone(), old_key)]);
    assert!(late.failures.is_empty(), "{late:?}");
    let again = service
        .maintain(rotated_at.offset(26 * HOUR))
        .await
        .unwrap();
    assert!(again.keys_deleted.is_empty());
}

#[tokio::test]
async fn rotating_again_within_the_grace_period_deletes_the_older_key_first() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, Settings::default()).await;
    let created = service
        .create(request(CanaryKind::IamUser, false))
        .await
        .unwrap();
    let first = service.rotate(created.record.id.as_str()).await.unwrap();
    let second = service.rotate(created.record.id.as_str()).await.unwrap();
    assert_eq!(
        second.deleted_early,
        std::slice::from_ref(&created.record.access_key_id)
    );
    assert_eq!(second.replaced_key, first.record.access_key_id);
    let live: Vec<_> = service
        .store()
        .keys(&created.record.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|key| key.deleted_at.is_none())
        .collect();
    assert_eq!(live.len(), 2, "IAM's limit of two keys per user holds");
}

#[tokio::test]
async fn short_term_canaries_are_renewed_before_they_expire_under_the_same_arn() {
    let folder = tempfile::tempdir().unwrap();
    let settings = Settings {
        renew_before: Span::hours(2),
        ..Settings::default()
    };
    let service = service(&folder, settings).await;
    let created = service
        .create(request(CanaryKind::Federation, false))
        .await
        .unwrap();
    let expiry = created.record.expires_at.unwrap();
    let not_yet = service.maintain(expiry.offset(-3 * HOUR)).await.unwrap();
    assert!(not_yet.renewed.is_empty());
    let due = service.maintain(expiry.offset(-HOUR)).await.unwrap();
    assert_eq!(due.renewed.len(), 1, "{due:?}");
    let renewed = &due.renewed[0];
    assert_eq!(renewed.record.principal_arn, created.record.principal_arn);
    assert_ne!(renewed.record.access_key_id, created.record.access_key_id);
    assert!(renewed.record.expires_at.unwrap() > expiry);
    assert!(renewed.credentials.session_token.is_some());
    let history = service.store().history(&created.record.id).await.unwrap();
    assert_eq!(history.last().unwrap().kind.to_string(), "renewed");
}

#[tokio::test]
async fn revoked_canaries_are_neither_rotated_nor_renewed() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, Settings::default()).await;
    let created = service
        .create(request(CanaryKind::RoleSession, false))
        .await
        .unwrap();
    service.revoke(&created.record.name, "test").await.unwrap();
    let error = service.rotate(&created.record.name).await.unwrap_err();
    assert!(matches!(error, ServiceError::Revoked(_)), "{error}");
    let expiry = created.record.expires_at.unwrap();
    let pass = service.maintain(expiry).await.unwrap();
    assert!(pass.renewed.is_empty() && pass.expired.is_empty());
}

/// IAM's answers, as a table the test fills in; the AWS implementation is exercised against
/// moto in `tripkey/tests/canary_aws.rs`.
#[derive(Default)]
struct RecordedUses {
    by_key: Mutex<HashMap<String, KeyUse>>,
    created: Mutex<HashMap<String, (String, EventTime)>>,
}

impl RecordedUses {
    fn used(&self, key: &str, at: EventTime) {
        self.by_key.lock().unwrap().insert(
            key.to_owned(),
            KeyUse {
                at,
                service: Some("s3".to_owned()),
                region: Some("eu-west-1".to_owned()),
            },
        );
    }
}

impl UsageLookup for RecordedUses {
    async fn key_last_used(&self, access_key_id: &str) -> Result<Option<KeyUse>, IssueError> {
        Ok(self.by_key.lock().unwrap().get(access_key_id).cloned())
    }

    async fn credential_report(&self) -> Result<Vec<UserUsage>, IssueError> {
        let uses = self.by_key.lock().unwrap();
        let mut users: HashMap<String, Vec<ReportedKey>> = HashMap::new();
        for (key, (user, created_at)) in self.created.lock().unwrap().iter() {
            users.entry(user.clone()).or_default().push(ReportedKey {
                created_at: Some(*created_at),
                last_used: uses.get(key).cloned(),
            });
        }
        Ok(users
            .into_iter()
            .map(|(user_name, keys)| UserUsage { user_name, keys })
            .collect())
    }
}

#[tokio::test]
async fn a_use_iam_reports_alerts_once_until_a_newer_use() {
    for report_above in [usize::MAX, 0] {
        let folder = tempfile::tempdir().unwrap();
        let service = service(&folder, Settings::default()).await;
        let created = service
            .create(request(CanaryKind::IamUser, false))
            .await
            .unwrap();
        let record = &created.record;
        let iam = RecordedUses::default();
        iam.created.lock().unwrap().insert(
            record.access_key_id.clone(),
            (record.name.clone(), record.created_at),
        );

        let quiet = service.poll_last_used(&iam, report_above).await.unwrap();
        assert!(quiet.trips.is_empty());
        assert_eq!(quiet.keys_checked, 1);
        assert_eq!(quiet.used_report, report_above == 0);

        let first_use = record.created_at.offset(60_000);
        iam.used(&record.access_key_id, first_use);
        let poll = service.poll_last_used(&iam, report_above).await.unwrap();
        assert_eq!(poll.trips.len(), 1, "report_above {report_above}");
        let alert = &poll.trips[0].alert;
        assert_eq!(alert.call.event_source, "s3.amazonaws.com");
        assert_eq!(alert.call.region, "eu-west-1");
        assert_eq!(
            alert.call.access_key_id.as_deref(),
            Some(&*record.access_key_id)
        );
        assert_eq!(alert.event_time, first_use);

        // Until the alert is recorded, the use is reported again rather than lost.
        let repeat = service.poll_last_used(&iam, report_above).await.unwrap();
        assert_eq!(repeat.trips.len(), 1);
        let after = service.record_use(&record.id, alert).await.unwrap();
        assert_eq!(after.status, CanaryStatus::Triggered);
        assert_eq!(after.last_alert_at, Some(first_use));
        let recorded = service.poll_last_used(&iam, report_above).await.unwrap();
        assert!(recorded.trips.is_empty(), "exactly one alert per use");

        iam.used(&record.access_key_id, first_use.offset(HOUR));
        let newer = service.poll_last_used(&iam, report_above).await.unwrap();
        assert_eq!(newer.trips.len(), 1);
        assert_ne!(newer.trips[0].alert.dedup_key, alert.dedup_key);
    }
}

#[tokio::test]
async fn deactivation_after_a_trigger_revokes_the_canary() {
    let folder = tempfile::tempdir().unwrap();
    let settings = Settings {
        after_trigger: AfterTrigger::Deactivate,
        ..Settings::default()
    };
    let service = service(&folder, settings).await;
    let created = service
        .create(request(CanaryKind::IamUser, false))
        .await
        .unwrap();
    let iam = RecordedUses::default();
    // Used at once: the history is in time order, and revocation happens at the wall clock.
    iam.used(&created.record.access_key_id, created.record.created_at);
    let poll = service.poll_last_used(&iam, usize::MAX).await.unwrap();
    let after = service
        .record_use(&created.record.id, &poll.trips[0].alert)
        .await
        .unwrap();
    assert_eq!(after.status, CanaryStatus::Revoked);
    let kinds: Vec<String> = service
        .store()
        .history(&created.record.id)
        .await
        .unwrap()
        .iter()
        .map(|event| event.kind.to_string())
        .collect();
    assert_eq!(kinds, ["issued", "triggered", "revoked"]);
    assert!(service
        .poll_last_used(&iam, usize::MAX)
        .await
        .unwrap()
        .trips
        .is_empty());
}

#[tokio::test]
async fn triggered_canaries_are_revoked_only_when_deactivation_is_configured() {
    for (after_trigger, revoked) in [
        (AfterTrigger::KeepWatching, false),
        (AfterTrigger::Deactivate, true),
    ] {
        let folder = tempfile::tempdir().unwrap();
        let service = service(
            &folder,
            Settings {
                after_trigger,
                ..Settings::default()
            },
        )
        .await;
        let used = service
            .create(request(CanaryKind::IamUser, false))
            .await
            .unwrap();
        let untouched = service
            .create(request(CanaryKind::IamUser, false))
            .await
            .unwrap();
        service
            .store()
            .mark_triggered(
                &used.record.id,
                used.record.created_at,
                serde_json::json!({}),
            )
            .await
            .unwrap();

        let (names, failures) = service.deactivate_triggered().await.unwrap();
        assert!(failures.is_empty());
        let expected: Vec<String> = if revoked {
            vec![used.record.name.clone()]
        } else {
            Vec::new()
        };
        assert_eq!(names, expected);
        let want = if revoked {
            CanaryStatus::Revoked
        } else {
            CanaryStatus::Triggered
        };
        let status_of = |id: &str| {
            let service = &service;
            let id = id.to_owned();
            async move { service.find(&id).await.unwrap().status }
        };
        assert_eq!(status_of(used.record.id.as_str()).await, want);
        assert_eq!(
            status_of(untouched.record.id.as_str()).await,
            CanaryStatus::Active
        );
    }
}
