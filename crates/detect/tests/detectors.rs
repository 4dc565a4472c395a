//! Behaviour of each detector, step by step against DESIGN.md, on synthetic records shaped like
//! the real ones in shared/datasets.

use std::sync::Arc;

use detect::alert::{Details, ExfiltrationReason};
use detect::config::{RolePolicy, Span};
use detect::{
    Alert, AlertStatus, Canary, CanaryRegistry, DetectConfig, Engine, MemoryState, ReportedUse,
    Rule, Severity,
};
use serde_json::{json, Value};
use trail::{EventTime, Record};

const ACCOUNT: &str = "123456789012";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/app/web-server";
const SESSION_ARN: &str = "arn:aws:sts::123456789012:assumed-role/web-server/i-0abc";
const INSTANCE: &str = "i-0abc";

fn at(minute: i64, second: i64) -> String {
    trail::EventTime(1_700_000_000_000 + minute * 60_000 + second * 1_000).to_string()
}

fn seed(minute: i64) -> Value {
    json!({
        "eventTime": at(minute, 0), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
        "awsRegion": "us-east-1", "sourceIPAddress": "ec2.amazonaws.com", "userAgent": "ec2.amazonaws.com",
        "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
        "requestParameters": {"roleArn": ROLE_ARN, "roleSessionName": INSTANCE},
        "eventID": format!("seed-{minute}")
    })
}

fn session_call(minute: i64, ip: &str, id: &str) -> Value {
    json!({
        "eventTime": at(minute, 0), "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-sdk-go/1.44.0",
        "userIdentity": {"type": "AssumedRole", "arn": SESSION_ARN, "accountId": ACCOUNT,
            "accessKeyId": "ASIAXXXXXXXXXXXXXXXX",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE_ARN}, "ec2RoleDelivery": "2.0"}},
        "eventID": id
    })
}

fn associate_address(minute: i64, instance: &str) -> Value {
    json!({
        "eventTime": at(minute, 0), "eventSource": "ec2.amazonaws.com", "eventName": "AssociateAddress",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ops", "accountId": ACCOUNT},
        "requestParameters": {"instanceId": instance, "allocationId": "eipalloc-1"},
        "eventID": format!("assoc-{minute}")
    })
}

fn denial(minute: i64, second: i64, principal: &str, code: &str, name: &str) -> Value {
    json!({
        "eventTime": at(minute, second), "eventSource": "ec2.amazonaws.com", "eventName": name,
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.9", "errorCode": code,
        "userIdentity": {"type": "IAMUser", "arn": principal, "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE"},
        "eventID": format!("deny-{minute}-{second}-{name}")
    })
}

fn run_with(config: &DetectConfig, canaries: Vec<Canary>, records: &[Value]) -> Vec<Alert> {
    let registry = Arc::new(CanaryRegistry::new(canaries).unwrap());
    let mut engine = Engine::new(config, registry, MemoryState::default());
    let mut alerts = Vec::new();
    for value in records {
        let text = value.to_string();
        let raw = serde_json::value::RawValue::from_string(text).unwrap();
        let record = Record::from_raw(&raw).unwrap();
        engine.process(&record, &mut alerts);
    }
    engine.finish(&mut alerts);
    alerts
}

fn run(records: &[Value]) -> Vec<Alert> {
    run_with(&DetectConfig::default(), Vec::new(), records)
}

fn exfiltration_reasons(alerts: &[Alert]) -> Vec<(ExfiltrationReason, String)> {
    alerts
        .iter()
        .filter_map(|alert| match &alert.details {
            Details::Exfiltration(details) => Some((details.reason, details.offending_ip.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn steps_1_6_7_9_lock_first_ip_then_alert_on_a_new_public_ip() {
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        session_call(2, "54.1.2.3", "b"),
        session_call(3, "198.51.100.66", "c"),
        session_call(4, "198.51.100.66", "d"),
    ]);
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(ExfiltrationReason::NewIp, "198.51.100.66".to_owned())],
        "one alert for the new IP, not one per call"
    );
    let alert = &alerts[0];
    assert_eq!(alert.rule, Rule::InstanceCredentialExfiltration);
    assert_eq!(alert.call.event_id.as_deref(), Some("c"));
    let Details::Exfiltration(details) = &alert.details else {
        unreachable!()
    };
    assert_eq!(details.session_arn, SESSION_ARN);
    assert_eq!(details.instance_id, INSTANCE);
    assert_eq!(details.locked_ips, vec!["54.1.2.3"]);
    assert_eq!(
        alert.dedup_key,
        format!("instance-credential-exfiltration:{SESSION_ARN}:ip:198.51.100.66")
    );
}

#[test]
fn step_3_no_seed_means_no_decision() {
    let alerts = run(&[
        session_call(1, "54.1.2.3", "a"),
        session_call(2, "198.51.100.66", "b"),
    ]);
    assert!(alerts.is_empty());
}

#[test]
fn step_2_ttl_expires_and_a_refresh_keeps_locked_ips() {
    // A refresh at 5h keeps the lock from minute 1, so the new IP at 8h still alerts.
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        seed(300),
        session_call(480, "198.51.100.66", "b"),
    ]);
    assert_eq!(exfiltration_reasons(&alerts).len(), 1);

    // Without a refresh the row is gone after 6h: no decision.
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        session_call(6 * 60 + 1, "198.51.100.66", "b"),
    ]);
    assert!(alerts.is_empty());
}

#[test]
fn step_4_and_5_service_names_and_allowlisted_cidrs_are_trusted() {
    let mut config = DetectConfig::default();
    config.exfiltration.allow_cidrs = vec!["198.51.100.0/24".parse().unwrap()];
    let alerts = run_with(
        &config,
        Vec::new(),
        &[
            seed(0),
            session_call(1, "AWS Internal", "a"),
            session_call(2, "54.1.2.3", "b"),
            session_call(3, "ssm.amazonaws.com", "c"),
            session_call(4, "198.51.100.66", "d"),
        ],
    );
    assert!(alerts.is_empty(), "{alerts:?}");
}

#[test]
fn step_8_private_ips_through_vpc_endpoints() {
    let through_endpoint = |minute, ip: &str, id: &str, endpoint_account: &str| {
        let mut value = session_call(minute, ip, id);
        value["vpcEndpointId"] = json!("vpce-1");
        value["vpcEndpointAccountId"] = json!(endpoint_account);
        value
    };
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        through_endpoint(2, "10.0.0.5", "b", ACCOUNT),
        through_endpoint(3, "10.0.0.5", "c", ACCOUNT),
        through_endpoint(4, "10.0.9.9", "d", ACCOUNT),
        through_endpoint(5, "10.0.0.5", "e", "999999999999"),
    ]);
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(ExfiltrationReason::NewPrivateIp, "10.0.9.9".to_owned())]
    );
    let foreign: Vec<_> = alerts
        .iter()
        .filter(|alert| alert.rule == Rule::ForeignVpcEndpoint)
        .collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0].call.event_id.as_deref(), Some("e"));

    // A private IP without a VPC endpoint is judged as a new public IP.
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        session_call(2, "172.16.0.9", "b"),
    ]);
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(ExfiltrationReason::NewIp, "172.16.0.9".to_owned())]
    );
}

#[test]
fn step_9_an_associate_address_grants_one_ip_change() {
    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        associate_address(2, INSTANCE),
        session_call(3, "54.9.9.9", "b"),
        session_call(4, "198.51.100.66", "c"),
    ]);
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(ExfiltrationReason::NewIp, "198.51.100.66".to_owned())],
        "the credit covers the first change only"
    );

    let alerts = run(&[
        seed(0),
        session_call(1, "54.1.2.3", "a"),
        associate_address(2, "i-other"),
        session_call(3, "54.9.9.9", "b"),
    ]);
    assert_eq!(
        exfiltration_reasons(&alerts).len(),
        1,
        "credit of another instance"
    );
}

#[test]
fn step_11_user_agent_allowlist_catches_ssrf_from_the_instance_ip() {
    let mut config = DetectConfig::default();
    config.exfiltration.roles = vec![RolePolicy {
        role: "web-*".into(),
        user_agents: vec!["aws-sdk-go/*".into()],
        alert_on_imds_v1: None,
    }];
    let mut curl = session_call(2, "54.1.2.3", "b");
    curl["userAgent"] = json!("curl/8.0");
    curl["userIdentity"]["sessionContext"]["ec2RoleDelivery"] = json!("1.0");
    let alerts = run_with(
        &config,
        Vec::new(),
        &[seed(0), session_call(1, "54.1.2.3", "a"), curl],
    );
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(
            ExfiltrationReason::UserAgentNotAllowed,
            "54.1.2.3".to_owned()
        )]
    );
    let Details::Exfiltration(details) = &alerts[0].details else {
        unreachable!()
    };
    assert!(details.imds_v1);
    assert!(alerts[0].summary.contains("IMDSv1"));
}

#[test]
fn canaries_match_by_key_arn_and_user_name_with_labels() {
    let canaries = vec![
        Canary {
            name: "billing-export".into(),
            access_key_id: Some("AKIAQWERTYUIOPASDFGH".into()),
            former_access_key_ids: vec!["AKIAOLDKEYBEFOREROTA".into()],
            principal_arn: Some("arn:aws:iam::123456789012:user/svc/billing-export".into()),
            user_name: Some("billing-export".into()),
            account_id: None,
            labels: [("host".to_owned(), "build-07".to_owned())].into(),
            memo: Some("in ~/.aws/credentials".into()),
            revoked_at: None,
        },
        Canary {
            name: "fed-ops".into(),
            access_key_id: Some("ASIAQWERTYUIOPASDFGH".into()),
            former_access_key_ids: Vec::new(),
            principal_arn: Some("arn:aws:sts::123456789012:federated-user/fed-ops".into()),
            user_name: None,
            account_id: None,
            labels: Default::default(),
            memo: None,
            revoked_at: None,
        },
    ];
    let call = |id: &str, identity: Value| {
        json!({"eventTime": at(0, 0), "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
               "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.1", "userIdentity": identity, "eventID": id})
    };
    let alerts = run_with(
        &DetectConfig::default(),
        canaries,
        &[
            call(
                "by-key",
                json!({"type": "IAMUser", "accessKeyId": "AKIAQWERTYUIOPASDFGH"}),
            ),
            call(
                "by-former-key",
                json!({"type": "IAMUser", "accessKeyId": "AKIAOLDKEYBEFOREROTA"}),
            ),
            call(
                "by-user",
                json!({"type": "IAMUser", "userName": "billing-export", "accountId": ACCOUNT}),
            ),
            call(
                "other-account",
                json!({"type": "IAMUser", "userName": "billing-export", "accountId": "111111111111"}),
            ),
            call(
                "federated",
                json!({"type": "FederatedUser", "arn": "arn:aws:sts::123456789012:federated-user/fed-ops", "accessKeyId": "ASIAOTHERKEY00000000"}),
            ),
            call(
                "reused-sts-key",
                json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/x/y", "accessKeyId": "ASIAQWERTYUIOPASDFGH"}),
            ),
        ],
    );
    let ids: Vec<_> = alerts
        .iter()
        .map(|a| a.call.event_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["by-key", "by-former-key", "by-user", "federated"]);
    assert!(alerts.iter().all(|a| a.rule == Rule::CanaryUse));
    let Details::Canary(details) = &alerts[0].details else {
        unreachable!()
    };
    assert_eq!(details.labels["host"], "build-07");
    assert_eq!(details.memo.as_deref(), Some("in ~/.aws/credentials"));
}

#[test]
fn registry_refuses_ambiguous_canaries() {
    let canary = |name: &str, key: &str| Canary {
        name: name.into(),
        access_key_id: Some(key.into()),
        former_access_key_ids: Vec::new(),
        principal_arn: None,
        user_name: None,
        account_id: None,
        labels: Default::default(),
        memo: None,
        revoked_at: None,
    };
    assert!(CanaryRegistry::new(vec![canary("a", "AKIA1"), canary("a", "AKIA2")]).is_err());
    assert!(CanaryRegistry::new(vec![canary("a", "AKIA1"), canary("b", "AKIA1")]).is_err());
}

const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

fn bursts(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|alert| alert.rule == Rule::AccessDeniedBurst)
        .collect()
}

#[test]
fn a_burst_opens_at_the_nth_denial_and_its_final_form_counts_everything() {
    let mut records: Vec<Value> = (0..7)
        .map(|i| {
            denial(
                0,
                i * 10,
                ALICE,
                "Client.UnauthorizedOperation",
                "GetPasswordData",
            )
        })
        .collect();
    records.push(denial(3, 0, ALICE, "AccessDenied", "ListUsers"));
    let alerts = run(&records);
    let found = bursts(&alerts);
    assert_eq!(found.len(), 2, "opened, then final: {alerts:#?}");
    assert_eq!(found[0].status, AlertStatus::Open);
    assert_eq!(found[1].status, AlertStatus::Final);
    assert_eq!(found[0].dedup_key, found[1].dedup_key);
    let Details::DenialBurst(open) = &found[0].details else {
        unreachable!()
    };
    assert_eq!(open.count, 5);
    assert_eq!(open.trigger_time.to_string(), at(0, 40));
    let Details::DenialBurst(last) = &found[1].details else {
        unreachable!()
    };
    assert_eq!(last.count, 8);
    assert_eq!(last.event_names, ["GetPasswordData", "ListUsers"]);
    assert_eq!(
        last.error_codes,
        ["AccessDenied", "Client.UnauthorizedOperation"]
    );
    assert_eq!(last.first_time.to_string(), at(0, 0));
    assert_eq!(last.last_time.to_string(), at(3, 0));
}

#[test]
fn four_denials_or_spread_out_denials_do_not_open_a_burst() {
    let four: Vec<Value> = (0..4)
        .map(|i| denial(0, i, ALICE, "AccessDenied", "ListUsers"))
        .collect();
    assert!(bursts(&run(&four)).is_empty());
    let spread: Vec<Value> = (0..10)
        .map(|i| denial(i * 2, 0, ALICE, "AccessDenied", "ListUsers"))
        .collect();
    assert!(
        bursts(&run(&spread)).is_empty(),
        "one every 2 minutes is 3 per 5 minutes"
    );
}

#[test]
fn skipped_sources_and_codes_do_not_count() {
    let mut records = Vec::new();
    for i in 0..6 {
        records.push(denial(0, i, ALICE, "AccessDenied", "HeadBucket"));
        let mut delivery = denial(0, i, ALICE, "AccessDenied", "PutObject");
        delivery["sourceIPAddress"] = json!("delivery.logs.amazonaws.com");
        records.push(delivery);
        records.push(denial(0, i, ALICE, "NoSuchEntity", "GetUser"));
    }
    assert!(bursts(&run(&records)).is_empty());
}

#[test]
fn a_burst_closes_after_quiet_and_a_new_one_can_start() {
    let mut records: Vec<Value> = (0..5)
        .map(|i| denial(0, i, ALICE, "AccessDeniedException", "GetSecretValue"))
        .collect();
    // A gap of exactly W keeps the burst open; more than W closes it.
    records.push(denial(5, 4, ALICE, "AccessDenied", "GetSecretValue"));
    records.extend((0..5).map(|i| denial(10, 5 + i, ALICE, "AccessDenied", "ListUsers")));
    let alerts = run(&records);
    let finals: Vec<_> = bursts(&alerts)
        .into_iter()
        .filter(|a| a.status == AlertStatus::Final)
        .collect();
    assert_eq!(finals.len(), 2);
    let counts: Vec<u64> = finals
        .iter()
        .map(|a| match &a.details {
            Details::DenialBurst(d) => d.count,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(counts, [6, 5]);
}

#[test]
fn principals_are_counted_separately_across_regions() {
    let bob = "arn:aws:iam::123456789012:user/bob";
    let mut records = Vec::new();
    for i in 0..4 {
        records.push(denial(0, i, ALICE, "AccessDenied", "ListUsers"));
        records.push(denial(0, i, bob, "AccessDenied", "ListUsers"));
    }
    assert!(bursts(&run(&records)).is_empty());
    let mut other_region = denial(0, 30, ALICE, "AccessDenied", "ListUsers");
    other_region["awsRegion"] = json!("ap-south-1");
    records.push(other_region);
    let alerts = run(&records);
    let found = bursts(&alerts);
    assert_eq!(found.len(), 2);
    let Details::DenialBurst(details) = &found[1].details else {
        unreachable!()
    };
    assert_eq!(details.regions, ["ap-south-1", "eu-west-1"]);
}

#[test]
fn thresholds_come_from_configuration() {
    let mut config = DetectConfig::default();
    config.denial.threshold = 3;
    config.denial.window = Span::minutes(1);
    let records: Vec<Value> = (0..3)
        .map(|i| denial(0, i * 20, ALICE, "AccessDenied", "ListUsers"))
        .collect();
    assert_eq!(bursts(&run_with(&config, Vec::new(), &records)).len(), 2);
    assert!(bursts(&run(&records)).is_empty());
}

#[test]
fn step_11_imds_v1_delivery_alerts_once_per_session_when_asked() {
    let imds_v1 = |minute, id: &str| {
        let mut value = session_call(minute, "54.1.2.3", id);
        value["userIdentity"]["sessionContext"]["ec2RoleDelivery"] = json!("1.0");
        value
    };
    let records = [seed(0), imds_v1(1, "a"), imds_v1(2, "b")];
    assert!(run(&records).is_empty(), "off by default");

    let mut config = DetectConfig::default();
    config.exfiltration.alert_on_imds_v1 = true;
    let alerts = run_with(&config, Vec::new(), &records);
    assert_eq!(
        exfiltration_reasons(&alerts),
        vec![(ExfiltrationReason::ImdsV1Delivery, "54.1.2.3".to_owned())]
    );

    config.exfiltration.roles = vec![RolePolicy {
        role: ROLE_ARN.into(),
        user_agents: Vec::new(),
        alert_on_imds_v1: Some(false),
    }];
    assert!(
        run_with(&config, Vec::new(), &records).is_empty(),
        "the role's setting wins"
    );
}

#[test]
fn a_use_reported_by_iam_alerts_with_service_region_and_a_stable_key() {
    let canary = Canary {
        name: "billing-export".into(),
        access_key_id: Some("AKIAQWERTYUIOPASDFGH".into()),
        former_access_key_ids: Vec::new(),
        principal_arn: Some("arn:aws:iam::123456789012:user/svc/billing-export".into()),
        user_name: Some("billing-export".into()),
        account_id: None,
        labels: [("host".to_owned(), "build-07".to_owned())].into(),
        memo: None,
        revoked_at: None,
    };
    let used = ReportedUse {
        access_key_id: "AKIAQWERTYUIOPASDFGH".into(),
        at: EventTime::parse("2026-11-02T10:00:00Z").unwrap(),
        service: Some("s3".into()),
        region: Some("eu-west-1".into()),
    };
    let alert = canary.reported_use_alert(&used);
    assert_eq!(alert.rule, Rule::CanaryUse);
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.call.event_source, "s3.amazonaws.com");
    assert_eq!(alert.call.region, "eu-west-1");
    assert_eq!(alert.call.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(alert.event_time, used.at);
    assert!(
        alert.summary.contains("s3 in eu-west-1"),
        "{}",
        alert.summary
    );
    let Details::Canary(details) = &alert.details else {
        unreachable!()
    };
    assert_eq!(details.labels["host"], "build-07");
    assert_eq!(canary.reported_use_alert(&used).dedup_key, alert.dedup_key);
    let later = ReportedUse {
        at: used.at.offset(3_600_000),
        ..used.clone()
    };
    assert_ne!(canary.reported_use_alert(&later).dedup_key, alert.dedup_key);
    let raw: Value = serde_json::from_str(alert.record.get()).unwrap();
    assert_eq!(raw["accessKeyLastUsed"]["service"], "s3");
}

/// Feeds records to an engine, restarting it from its snapshot after every record, as `serve`
/// does after a crash between two committed batches.
fn run_restarting(records: &[Value]) -> Vec<Alert> {
    let registry = Arc::new(CanaryRegistry::new(Vec::new()).unwrap());
    let config = DetectConfig::default();
    let mut engine = Engine::new(&config, registry.clone(), MemoryState::default());
    let mut alerts = Vec::new();
    for value in records {
        let raw = serde_json::value::RawValue::from_string(value.to_string()).unwrap();
        engine.process(&Record::from_raw(&raw).unwrap(), &mut alerts);
        engine = Engine::<MemoryState>::restore(&config, registry.clone(), &engine.snapshot())
            .expect("a snapshot reads back");
    }
    engine.finish(&mut alerts);
    alerts
}

#[test]
fn an_engine_restored_from_its_snapshot_goes_on_as_if_never_stopped() {
    let mut records = vec![
        seed(0),
        session_call(1, "10.0.0.5", "lock"),
        associate_address(2, "i-other"),
    ];
    for second in 0..6 {
        records.push(denial(
            3,
            second * 10,
            "arn:aws:iam::123456789012:user/probe",
            "AccessDenied",
            "ListUsers",
        ));
    }
    records.push(session_call(4, "198.51.100.99", "stolen"));
    records.push(denial(
        30,
        0,
        "arn:aws:iam::123456789012:user/probe",
        "AccessDenied",
        "GetUser",
    ));
    let summary = |alerts: &[Alert]| -> Vec<(String, Rule, AlertStatus)> {
        alerts
            .iter()
            .map(|a| (a.dedup_key.clone(), a.rule, a.status))
            .collect()
    };
    let straight = run(&records);
    assert!(
        straight
            .iter()
            .any(|a| a.rule == Rule::InstanceCredentialExfiltration)
            && straight.iter().any(|a| a.rule == Rule::AccessDeniedBurst),
        "{:#?}",
        summary(&straight)
    );
    assert_eq!(summary(&run_restarting(&records)), summary(&straight));
}

/// Memory stays bounded whatever the record rate: a principal keeps at most
/// `MAX_LIVE_DENIALS` denials in order, a session at most `MAX_ADDRESSES_PER_SESSION`
/// addresses per period, and non-instance sessions nothing at all.
#[test]
fn floods_keep_bounded_memory() {
    let config = DetectConfig::default();
    let mut engine = Engine::new(
        &config,
        Arc::new(CanaryRegistry::default()),
        MemoryState::default(),
    );
    let mut alerts = Vec::new();
    let mut feed = |engine: &mut Engine, value: Value| {
        let raw = serde_json::value::RawValue::from_string(value.to_string()).unwrap();
        engine.process(&Record::from_raw(&raw).unwrap(), &mut alerts);
    };
    // 15,000 denials within half an hour, all inside the horizon, each minute's out of order.
    for n in 0..15_000i64 {
        let mut value = denial(
            n / 500,
            (n * 7) % 60,
            ALICE,
            "AccessDenied",
            &format!("Call{}", n % 40),
        );
        value["eventID"] = json!(format!("flood-{n}"));
        feed(&mut engine, value);
    }
    let denials_only = engine.snapshot().len();
    assert!(
        denials_only < detect::denial::MAX_LIVE_DENIALS * 2_000,
        "{denials_only} bytes for one principal's flood"
    );
    // One session calling from 500 addresses, and a Lambda session from as many.
    feed(&mut engine, seed(0));
    for n in 0..500 {
        feed(
            &mut engine,
            session_call(
                1,
                &format!("54.0.{}.{}", n / 250, n % 250),
                &format!("u{n}"),
            ),
        );
        let mut lambda = session_call(1, &format!("3.0.{}.{}", n / 250, n % 250), &format!("l{n}"));
        lambda["userIdentity"]["arn"] =
            json!("arn:aws:sts::123456789012:assumed-role/worker/billing-export-fn");
        feed(&mut engine, lambda);
    }
    let grown = engine.snapshot().len() - denials_only;
    assert!(
        grown < detect::exfiltration::MAX_ADDRESSES_PER_SESSION * 4_000,
        "{grown} bytes for a session's 500 addresses and a Lambda's"
    );
}
