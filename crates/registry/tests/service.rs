//! The canary service over a real SQLite store, with the offline issuer.

use keys::AccountId;
use registry::{CanaryService, CreateRequest, OfflineIssuer, ServiceError, Settings};
use store::{CanaryFilter, CanaryKind, CanaryStatus, Issuer, Store};

const ACCOUNT: &str = "111122223333";

async fn service(
    folder: &tempfile::TempDir,
    capacity: u64,
    account: &str,
) -> CanaryService<OfflineIssuer> {
    let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
    let issuer = OfflineIssuer::seeded(account.parse::<AccountId>().unwrap(), 7);
    let settings = Settings {
        capacity_per_account: capacity,
        ..Settings::default()
    };
    CanaryService::new(store, issuer, settings)
}

fn request(kind: CanaryKind) -> CreateRequest {
    CreateRequest {
        kind,
        labels: [("host".to_owned(), "build-07".to_owned())].into(),
        memo: Some("~/.aws/credentials on build-07".to_owned()),
        keep_secret: false,
        name: None,
        issued_by: None,
    }
}

#[tokio::test]
async fn an_iam_user_canary_is_stealthy_recorded_and_decodes_to_its_account() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 10, ACCOUNT).await;
    let created = service.create(request(CanaryKind::IamUser)).await.unwrap();
    let record = &created.record;
    assert_eq!(record.issuer, Issuer::Offline);
    assert_eq!(record.account_id, ACCOUNT);
    assert_eq!(record.access_key_id, created.credentials.access_key_id);
    assert!(record.access_key_id.starts_with("AKIA"));
    assert_eq!(
        keys::decode_account(&record.access_key_id)
            .unwrap()
            .account()
            .unwrap()
            .to_string(),
        ACCOUNT
    );
    assert!(keys::looks_like_secret_access_key(
        created.credentials.secret_access_key.expose()
    ));
    assert_eq!(
        record.principal_arn,
        format!("arn:aws:iam::{ACCOUNT}:user{}{}", record.path, record.name)
    );
    assert!(keys::check_name(&record.name).is_empty(), "{}", record.name);
    assert!(keys::check_name(&record.path).is_empty(), "{}", record.path);
    let check = service.inventory().check(record.id.as_str()).await.unwrap();
    assert!(!check.flagged, "{}", check.report);
    assert_eq!(service.find(&record.name).await.unwrap().id, record.id);
}

#[tokio::test]
async fn short_term_canaries_carry_their_name_in_the_arn_and_expire() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 10, ACCOUNT).await;
    for kind in [CanaryKind::Federation, CanaryKind::RoleSession] {
        let created = service.create(request(kind)).await.unwrap();
        assert!(created.record.access_key_id.starts_with("ASIA"));
        assert!(created.credentials.session_token.is_some());
        assert!(created
            .record
            .principal_arn
            .ends_with(&format!("/{}", created.record.name)));
        assert!(created.record.expires_at.is_some());
        assert!(created.record.name.len() <= 32);
    }
}

#[tokio::test]
async fn a_full_account_refuses_the_next_iam_user_and_leaves_nothing_behind() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 3, ACCOUNT).await;
    for _ in 0..3 {
        service.create(request(CanaryKind::IamUser)).await.unwrap();
    }
    let error = service
        .create(request(CanaryKind::IamUser))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            ServiceError::Capacity {
                held: 3,
                limit: 3,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("already holds 3"), "{message}");
    assert!(message.contains("--kind federation"), "{message}");
    let all = service
        .inventory()
        .list(&CanaryFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "nothing half-made in the store");
    let capacity = service.inventory().capacity(ACCOUNT, 3).await.unwrap();
    assert_eq!((capacity.held, capacity.limit), (3, 3));
    service
        .create(request(CanaryKind::Federation))
        .await
        .expect("short-term kinds do not use IAM user slots");
}

#[tokio::test]
async fn revocation_keeps_the_record_and_frees_capacity() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 1, ACCOUNT).await;
    let created = service.create(request(CanaryKind::IamUser)).await.unwrap();
    let revoked = service
        .revoke(&created.record.name, "rotated out of build-07")
        .await
        .unwrap();
    assert!(!revoked.already_revoked);
    assert_eq!(revoked.canary.status, CanaryStatus::Revoked);
    assert!(revoked.canary.revoked_at.is_some());
    let again = service.revoke(&created.record.name, "twice").await.unwrap();
    assert!(again.already_revoked, "a second revocation changes nothing");
    assert_eq!(again.canary.revoked_at, revoked.canary.revoked_at);
    let history = service.store().history(&created.record.id).await.unwrap();
    let kinds: Vec<String> = history.iter().map(|event| event.kind.to_string()).collect();
    assert_eq!(kinds, ["issued", "revoked"]);
    service.create(request(CanaryKind::IamUser)).await.unwrap();
}

#[tokio::test]
async fn canary_vendor_accounts_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 10, "171436882533").await;
    let error = service
        .create(request(CanaryKind::IamUser))
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Stealth(_)), "{error}");
    assert!(service
        .inventory()
        .list(&CanaryFilter::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn unknown_canaries_say_how_to_find_them() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 10, ACCOUNT).await;
    let error = service.find("nobody").await.unwrap_err();
    assert!(error.to_string().contains("tripkey canary list"));
}

#[tokio::test]
async fn a_chosen_name_is_checked_against_limits_uniqueness_and_stealth() {
    let folder = tempfile::tempdir().unwrap();
    let service = service(&folder, 10, ACCOUNT).await;
    let named = |name: &str| CreateRequest {
        name: Some(name.to_owned()),
        ..request(CanaryKind::IamUser)
    };
    let created = service.create(named("legacy-deploy")).await.unwrap();
    assert_eq!(created.record.name, "legacy-deploy");
    assert!(
        created.name_findings.is_empty(),
        "{:?}",
        created.name_findings
    );
    assert!(created.record.principal_arn.ends_with("/legacy-deploy"));

    let taken = service.create(named("legacy-deploy")).await.unwrap_err();
    assert!(matches!(taken, ServiceError::NameTaken(_)), "{taken}");
    let invalid = service.create(named("build bot")).await.unwrap_err();
    assert!(matches!(invalid, ServiceError::InvalidName(_)), "{invalid}");

    let loud = service.create(named("honey-admin")).await.unwrap();
    assert_eq!(loud.name_findings.len(), 1, "{:?}", loud.name_findings);
    assert!(
        loud.name_findings[0].contains("\"honey\""),
        "{:?}",
        loud.name_findings
    );
    assert_eq!(
        service
            .inventory()
            .list(&CanaryFilter::default())
            .await
            .unwrap()
            .len(),
        2,
        "refused names leave nothing behind"
    );
}
