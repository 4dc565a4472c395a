//! Canary integrity from CloudTrail: every IAM call that gives a canary a way to act raises
//! `canary-drift` once, AWS's quarantine raises `canary-exposed`, and tripkey's own calls
//! (its deny policy, its keys, the cleanup of a revocation) raise nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use detect::integrity::{
    check_holdings, IamHoldings, BOUNDARY_POLICY_NAME, DECOY_ROLE_NAME, INLINE_POLICY_NAME,
};
use detect::{
    playbook, Alert, Canary, CanaryRegistry, Details, DetectConfig, Engine, MemoryState,
    RelevanceFilter, Rule, SeenBy, Severity,
};
use serde_json::{json, Value};
use trail::{EventTime, Record};

const ACCOUNT: &str = "111122223333";
const USER: &str = "svc-billing-sync";
const KEY: &str = "AKIARTX3GSDS5ZZ46JLN";
const ATTACKER: &str = "arn:aws:iam::111122223333:user/mallory";

fn user_canary() -> Canary {
    Canary {
        name: USER.to_owned(),
        access_key_id: Some(KEY.to_owned()),
        former_access_key_ids: vec!["AKIAOLDKEYBEFOREROTA".to_owned()],
        principal_arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/service/{USER}")),
        user_name: Some(USER.to_owned()),
        account_id: Some(ACCOUNT.to_owned()),
        labels: BTreeMap::from([("host".to_owned(), "build-07".to_owned())]),
        memo: None,
        revoked_at: None,
    }
}

fn session_canary(name: &str) -> Canary {
    Canary {
        name: name.to_owned(),
        access_key_id: None,
        former_access_key_ids: Vec::new(),
        principal_arn: Some(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{DECOY_ROLE_NAME}/{name}"
        )),
        user_name: None,
        account_id: Some(ACCOUNT.to_owned()),
        labels: BTreeMap::new(),
        memo: None,
        revoked_at: None,
    }
}

fn at(minute: i64) -> String {
    EventTime(1_764_000_000_000 + minute * 60_000).to_string()
}

/// An IAM call by `caller`, as CloudTrail records it.
fn iam_call(minute: i64, name: &str, parameters: Value, response: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": ATTACKER, "accountId": ACCOUNT,
            "accessKeyId": "AKIAMALLORY000000000", "userName": "mallory"},
        "eventTime": at(minute), "eventSource": "iam.amazonaws.com", "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.15.0 <script>alert(1)</script>",
        "requestParameters": parameters, "responseElements": response,
        "eventID": format!("{name}-{minute}"), "recipientAccountId": ACCOUNT
    })
}

/// Runs the engine over records, as JSON lines.
fn run(canaries: Vec<Canary>, records: &[Value]) -> Vec<Alert> {
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    run_read(canaries, &lines.join("\n"))
}

fn change_of(alert: &Alert) -> (Rule, String, Option<String>) {
    match &alert.details {
        Details::CanaryDrift(change) | Details::CanaryExposed(change) => {
            (alert.rule, change.change.to_string(), change.target.clone())
        }
        other => panic!("not an integrity alert: {other:?}"),
    }
}

#[test]
fn every_way_to_give_a_canary_user_power_raises_drift_once() {
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let allow_all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let cases = [
        (
            iam_call(
                1,
                "AttachUserPolicy",
                json!({"userName": USER, "policyArn": admin}),
                Value::Null,
            ),
            ("attached-policy", Some(admin)),
        ),
        (
            iam_call(
                2,
                "PutUserPolicy",
                json!({"userName": USER, "policyName": "ops",
                "policyDocument": allow_all}),
                Value::Null,
            ),
            ("inline-policy", Some("ops")),
        ),
        (
            iam_call(
                3,
                "AddUserToGroup",
                json!({"userName": USER, "groupName": "admins"}),
                Value::Null,
            ),
            ("group", Some("admins")),
        ),
        (
            iam_call(
                4,
                "DeleteUserPermissionsBoundary",
                json!({"userName": USER}),
                Value::Null,
            ),
            ("boundary-removed", None),
        ),
        (
            iam_call(
                5,
                "PutUserPermissionsBoundary",
                json!({"userName": USER,
                "permissionsBoundary": admin}),
                Value::Null,
            ),
            ("boundary-replaced", Some(admin)),
        ),
        (
            iam_call(
                6,
                "CreateLoginProfile",
                json!({"userName": USER, "passwordResetRequired": false}),
                Value::Null,
            ),
            ("login-profile", None),
        ),
        (
            iam_call(
                7,
                "CreateAccessKey",
                json!({"userName": USER}),
                json!({"accessKey": {"userName": USER, "accessKeyId": "AKIAATTACKERMADE0001",
                    "status": "Active", "createDate": "Nov 24, 2025 4:00:00 PM"}}),
            ),
            ("access-key", Some("AKIAATTACKERMADE0001")),
        ),
        (
            iam_call(
                8,
                "DeleteUserPolicy",
                json!({"userName": USER, "policyName": INLINE_POLICY_NAME}),
                Value::Null,
            ),
            ("deny-policy-deleted", Some(INLINE_POLICY_NAME)),
        ),
    ];
    for (record, (change, target)) in &cases {
        // Each record twice: a redelivered file must not alert again.
        let alerts = run(vec![user_canary()], &[record.clone(), record.clone()]);
        let keys: Vec<&str> = alerts
            .iter()
            .map(|alert| alert.dedup_key.as_str())
            .collect();
        assert_eq!(alerts.len(), 2, "{change}: {keys:?}");
        assert_eq!(keys[0], keys[1], "{change}");
        let alert = &alerts[0];
        assert_eq!(
            change_of(alert),
            (
                Rule::CanaryDrift,
                (*change).to_owned(),
                target.map(str::to_owned)
            ),
        );
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.subject(), USER);
        assert!(alert.summary.contains(ATTACKER), "{}", alert.summary);
        assert_eq!(alert.call.principal.as_deref(), Some(ATTACKER));
        let Details::CanaryDrift(details) = &alert.details else {
            unreachable!()
        };
        assert_eq!(details.seen_by, SeenBy::Cloudtrail);
        assert_eq!(details.labels["host"], "build-07");
    }
    let all: Vec<Value> = cases.iter().map(|(record, _)| record.clone()).collect();
    let alerts = run(vec![user_canary()], &all);
    let mut keys: Vec<&str> = alerts
        .iter()
        .map(|alert| alert.dedup_key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        cases.len(),
        "each change has its own dedup key: {keys:?}"
    );
}

#[test]
fn tripkeys_own_calls_and_failed_calls_raise_nothing() {
    let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyAll","Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let boundary = format!("arn:aws:iam::{ACCOUNT}:policy/{BOUNDARY_POLICY_NAME}");
    let mut failed = iam_call(
        4,
        "AttachUserPolicy",
        json!({"userName": USER, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        Value::Null,
    );
    failed["errorCode"] = json!("AccessDenied");
    let records = [
        // Issuing: the deny-all inline policy and the canary's own key.
        iam_call(
            1,
            "PutUserPolicy",
            json!({"userName": USER, "policyName": INLINE_POLICY_NAME,
            "policyDocument": deny_all}),
            Value::Null,
        ),
        iam_call(
            2,
            "CreateAccessKey",
            json!({"userName": USER}),
            json!({"accessKey": {"userName": USER, "accessKeyId": KEY}}),
        ),
        // Rotation kept the former key.
        iam_call(
            3,
            "CreateAccessKey",
            json!({"userName": USER}),
            json!({"accessKey": {"userName": USER, "accessKeyId": "AKIAOLDKEYBEFOREROTA"}}),
        ),
        iam_call(
            4,
            "PutUserPermissionsBoundary",
            json!({"userName": USER,
            "permissionsBoundary": boundary}),
            Value::Null,
        ),
        failed,
        // Another user, and a canary's name in another account.
        iam_call(
            5,
            "AttachUserPolicy",
            json!({"userName": "alice",
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            Value::Null,
        ),
        {
            let mut elsewhere = iam_call(
                6,
                "AddUserToGroup",
                json!({"userName": USER, "groupName": "admins"}),
                Value::Null,
            );
            elsewhere["recipientAccountId"] = json!("999988887777");
            elsewhere["userIdentity"]["accountId"] = json!("999988887777");
            elsewhere
        },
    ];
    let alerts = run(vec![user_canary()], &records);
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn a_revocations_cleanup_is_not_drift_but_the_same_removal_before_it_is() {
    let cleanup = [
        iam_call(
            100,
            "DeleteUserPolicy",
            json!({"userName": USER, "policyName": INLINE_POLICY_NAME}),
            Value::Null,
        ),
        iam_call(
            100,
            "DeleteUserPermissionsBoundary",
            json!({"userName": USER}),
            Value::Null,
        ),
    ];
    let revoked = Canary {
        revoked_at: Some(EventTime::parse(&at(101)).unwrap()),
        ..user_canary()
    };
    assert!(run(vec![revoked.clone()], &cleanup).is_empty());
    let earlier = iam_call(
        10,
        "DeleteUserPermissionsBoundary",
        json!({"userName": USER}),
        Value::Null,
    );
    let alerts = run(vec![revoked], &[earlier]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(change_of(&alerts[0]).1, "boundary-removed");
}

#[test]
fn the_decoy_role_and_the_boundary_policy_are_watched_for_every_canary_they_serve() {
    let trust = iam_call(
        1,
        "UpdateAssumeRolePolicy",
        json!({"roleName": DECOY_ROLE_NAME,
        "policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"sts:AssumeRole\"}]}"}),
        Value::Null,
    );
    let boundary = format!("arn:aws:iam::{ACCOUNT}:policy/{BOUNDARY_POLICY_NAME}");
    let version = iam_call(
        2,
        "CreatePolicyVersion",
        json!({"policyArn": boundary,
        "policyDocument": "{}", "setAsDefault": true}),
        Value::Null,
    );
    let other_role = iam_call(
        3,
        "UpdateAssumeRolePolicy",
        json!({"roleName": "app"}),
        Value::Null,
    );
    let canaries = vec![
        user_canary(),
        session_canary("deploy-a"),
        session_canary("deploy-b"),
    ];
    let alerts = run(canaries, &[trust, version, other_role]);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let Details::CanaryDrift(role) = &alerts[0].details else {
        panic!()
    };
    assert_eq!(role.subject, format!("role/{DECOY_ROLE_NAME}"));
    assert_eq!(role.canaries, ["deploy-a", "deploy-b"]);
    assert!(alerts[0]
        .summary
        .starts_with("2 canaries (role/deploy-readonly) drifted"));
    let Details::CanaryDrift(policy) = &alerts[1].details else {
        panic!()
    };
    assert_eq!(policy.change.as_str(), "boundary-policy-changed");
    assert_eq!(policy.canaries, [USER]);
}

#[test]
fn awss_quarantine_policy_raises_exposed_not_drift() {
    for version in ["V2", "V3"] {
        let policy = format!("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantine{version}");
        let mut record = iam_call(
            1,
            "AttachUserPolicy",
            json!({"userName": USER, "policyArn": policy}),
            Value::Null,
        );
        record["userIdentity"] = json!({"type": "AWSService", "invokedBy": "AWS Internal"});
        record["sourceIPAddress"] = json!("AWS Internal");
        let alerts = run(vec![user_canary()], &[record]);
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(
            change_of(alert),
            (
                Rule::CanaryExposed,
                "key-exposed".to_owned(),
                Some(policy.clone())
            )
        );
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(
            alert.dedup_key,
            format!("canary-exposed:{USER}:key-exposed")
        );
        assert!(
            alert.summary.contains("found its key in public"),
            "{}",
            alert.summary
        );
    }
}

#[test]
fn each_integrity_rule_has_its_own_playbook() {
    let drift = run(
        vec![user_canary()],
        &[iam_call(
            1,
            "AttachUserPolicy",
            json!({"userName": USER, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            Value::Null,
        )],
    );
    let mut quarantine = iam_call(
        2,
        "AttachUserPolicy",
        json!({"userName": USER,
        "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"}),
        Value::Null,
    );
    quarantine["sourceIPAddress"] = json!("AWS Internal");
    let exposed = run(vec![user_canary()], &[quarantine]);
    let drift = playbook(
        &drift[0],
        Some("laptop alice-mbp: ~/.aws/credentials [default]"),
    );
    let exposed = playbook(&exposed[0], None);
    assert!(drift
        .meaning
        .contains("was changed: policy arn:aws:iam::aws:policy/AdministratorAccess attached"));
    assert!(
        drift.checks[0].title.contains("AKIAMALLORY000000000"),
        "{:?}",
        drift.checks[0]
    );
    assert!(drift.checks[2]
        .detail
        .contains("tripkey canary check svc-billing-sync"));
    assert!(drift.checks[2].detail.contains("laptop alice-mbp"));
    assert!(drift
        .contain
        .iter()
        .any(|step| step.contains("tripkey canary revoke svc-billing-sync --reason drift")));
    assert!(drift.contain.iter().any(|step| step.contains(
        "aws iam detach-user-policy --user-name svc-billing-sync --policy-arn arn:aws:iam::aws:policy/AdministratorAccess")));
    assert!(exposed.meaning.contains("public place"));
    assert!(exposed.checks[0]
        .detail
        .contains("AttributeKey=Username,AttributeValue=svc-billing-sync"));
    assert!(exposed.checks[2].detail.contains("host=build-07"));
    assert!(exposed.contain[0].contains("--reason exposed"));
    assert_ne!(drift.meaning, exposed.meaning);
}

#[test]
fn integrity_calls_pass_the_relevance_filter() {
    let filter = RelevanceFilter::new(Arc::new(CanaryRegistry::new(vec![user_canary()]).unwrap()));
    let record = iam_call(
        1,
        "AddUserToGroup",
        json!({"userName": USER, "groupName": "admins"}),
        Value::Null,
    );
    let raw = serde_json::value::RawValue::from_string(record.to_string()).unwrap();
    assert!(filter.is_relevant(&Record::from_raw(&raw).unwrap()));
}

fn clean_holdings() -> IamHoldings {
    IamHoldings {
        attached_policies: Vec::new(),
        inline_policies: vec![(
            INLINE_POLICY_NAME.to_owned(),
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#
                .to_owned(),
        )],
        groups: Vec::new(),
        permissions_boundary: Some(format!(
            "arn:aws:iam::{ACCOUNT}:policy/{BOUNDARY_POLICY_NAME}"
        )),
        login_profile: false,
        access_keys: vec![KEY.to_owned()],
    }
}

#[test]
fn the_iam_check_finds_each_holding_tripkey_did_not_make_with_the_cloudtrail_dedup_key() {
    let canary = user_canary();
    let own = |key: &str| key == KEY;
    let now = EventTime::parse(&at(500)).unwrap();
    assert!(check_holdings(&canary, &clean_holdings(), own, now).is_empty());

    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let drifted = IamHoldings {
        attached_policies: vec![
            admin.to_owned(),
            "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3".to_owned(),
        ],
        inline_policies: vec![(
            "ops".to_owned(),
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.to_owned(),
        )],
        groups: vec!["admins".to_owned()],
        permissions_boundary: None,
        login_profile: true,
        access_keys: vec![KEY.to_owned(), "AKIAATTACKERMADE0001".to_owned()],
    };
    let alerts = check_holdings(&canary, &drifted, own, now);
    let found: Vec<(Rule, String, Option<String>)> = alerts.iter().map(change_of).collect();
    assert_eq!(
        found,
        [
            (
                Rule::CanaryDrift,
                "attached-policy".into(),
                Some(admin.into())
            ),
            (
                Rule::CanaryExposed,
                "key-exposed".into(),
                Some("arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3".into())
            ),
            (
                Rule::CanaryDrift,
                "inline-policy".into(),
                Some("ops".into())
            ),
            (Rule::CanaryDrift, "group".into(), Some("admins".into())),
            (Rule::CanaryDrift, "boundary-removed".into(), None),
            (Rule::CanaryDrift, "login-profile".into(), None),
            (
                Rule::CanaryDrift,
                "access-key".into(),
                Some("AKIAATTACKERMADE0001".into())
            ),
        ]
    );
    for alert in &alerts {
        assert_eq!(alert.event_time, now);
        let (Details::CanaryDrift(details) | Details::CanaryExposed(details)) = &alert.details
        else {
            unreachable!()
        };
        assert_eq!(details.seen_by, SeenBy::IamCheck);
        let shown = serde_json::to_string(alert).unwrap();
        assert!(
            shown.contains("iamCheck"),
            "the record is what IAM said: {shown}"
        );
    }
    assert!(
        alerts[0]
            .summary
            .ends_with("(found by tripkey's IAM check)"),
        "{}",
        alerts[0].summary
    );

    // The same attach seen in CloudTrail has the same dedup key, so it alerts once.
    let trail = run(
        vec![canary.clone()],
        &[iam_call(
            1,
            "AttachUserPolicy",
            json!({"userName": USER, "policyArn": admin}),
            Value::Null,
        )],
    );
    assert_eq!(trail[0].dedup_key, alerts[0].dedup_key);
    let playbook = playbook(&alerts[0], None);
    assert!(playbook.checks[0]
        .detail
        .contains("AttributeKey=ResourceName,AttributeValue=svc-billing-sync"));
}

fn health_event(keys: &[&str]) -> Value {
    let entities: Vec<Value> = keys.iter().map(|key| json!({"entityValue": key})).collect();
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS Health Event", "source": "aws.health", "account": ACCOUNT,
        "time": at(3), "region": "us-east-1", "resources": [],
        "detail": {
            "eventArn": "arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/AWS_RISK_CREDENTIALS_EXPOSED_7bf7",
            "service": "RISK", "eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED",
            "eventTypeCategory": "issue", "statusCode": "open",
            "affectedEntities": entities
        }
    })
}

/// Runs the engine over records in any envelope the reader takes.
fn run_read(canaries: Vec<Canary>, input: &str) -> Vec<Alert> {
    let registry = Arc::new(CanaryRegistry::new(canaries).unwrap());
    let mut engine = Engine::new(&DetectConfig::default(), registry, MemoryState::default());
    let mut alerts = Vec::new();
    let problems = trail::parse_records(input.as_bytes(), |_, record| {
        engine.process(&record, &mut alerts);
    });
    assert!(problems.is_empty(), "{problems:?}");
    engine.finish(&mut alerts);
    alerts
}

#[test]
fn an_aws_health_event_naming_a_canary_key_raises_exposed_once_with_the_quarantine() {
    let former = "AKIAOLDKEYBEFOREROTA";
    let event = health_event(&["AKIAUNRELATED0000001", KEY, former]);
    let alerts = run_read(vec![user_canary()], &event.to_string());
    assert_eq!(
        alerts.len(),
        1,
        "one canary, named twice by its keys: {alerts:#?}"
    );
    let alert = &alerts[0];
    assert_eq!(alert.rule, Rule::CanaryExposed);
    assert_eq!(
        alert.dedup_key,
        format!("canary-exposed:{USER}:key-exposed")
    );
    let Details::CanaryExposed(details) = &alert.details else {
        unreachable!()
    };
    assert_eq!(details.seen_by, SeenBy::AwsHealth);
    assert_eq!(alert.call.access_key_id.as_deref(), Some(KEY));
    assert!(
        alert.summary.contains("AWS Health event"),
        "{}",
        alert.summary
    );
    assert!(serde_json::to_string(alert)
        .unwrap()
        .contains("affectedEntities"));
    assert!(playbook(alert, None)
        .meaning
        .contains("AWS_RISK_CREDENTIALS_EXPOSED"));

    // The quarantine policy AWS attaches for the same exposure: the same alert.
    let mut quarantine = iam_call(
        4,
        "AttachUserPolicy",
        json!({"userName": USER,
        "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"}),
        Value::Null,
    );
    quarantine["sourceIPAddress"] = json!("AWS Internal");
    let both = run_read(vec![user_canary()], &format!("{event}\n{quarantine}\n"));
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].dedup_key, both[1].dedup_key);

    // A Health event about no canary, and other Health events, raise nothing.
    assert!(run_read(
        vec![user_canary()],
        &health_event(&["AKIAUNRELATED0000001"]).to_string()
    )
    .is_empty());
    let mut maintenance = health_event(&[KEY]);
    maintenance["detail"]["eventTypeCode"] =
        json!("AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED");
    assert!(run_read(vec![user_canary()], &maintenance.to_string()).is_empty());
}
