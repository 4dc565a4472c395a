//! The sample alert `tripkey alert test` sends.

use std::collections::BTreeMap;

use detect::{
    Alert, AlertStatus, CallContext, CanaryDetails, CanaryMatchKind, Details, Rule, Severity,
};
use serde_json::value::RawValue;
use trail::EventTime;

use crate::Notification;

/// A canary-use alert that says plainly it is a test, stamped `now`, with a dedup key of its
/// own so every test is delivered.
pub fn sample_notification(now: EventTime) -> Notification {
    let event_time = now.offset(-4_200);
    let record = serde_json::json!({
        "eventVersion": "1.09",
        "eventTime": event_time.to_string(),
        "eventSource": "sts.amazonaws.com",
        "eventName": "GetCallerIdentity",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/svc-reporting-export",
            "accountId": "111122223333",
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": "svc-reporting-export"
        },
        "eventID": "00000000-0000-4000-8000-000000000000",
        "tripkeyTest": true
    });
    let record = RawValue::from_string(record.to_string()).expect("a JSON value is valid JSON");
    let alert = Alert {
        dedup_key: format!("test:{}", now.millis()),
        rule: Rule::CanaryUse,
        severity: Severity::Critical,
        status: AlertStatus::Final,
        summary: "TEST from tripkey alert test: no canary was used. If you can read this, the sink works."
            .to_owned(),
        event_time,
        call: CallContext {
            principal: Some("arn:aws:iam::111122223333:user/svc-reporting-export".to_owned()),
            identity_type: Some("IAMUser".to_owned()),
            access_key_id: Some("AKIAIOSFODNN7EXAMPLE".to_owned()),
            account_id: Some("111122223333".to_owned()),
            source_ip: Some("203.0.113.7".to_owned()),
            event_name: "GetCallerIdentity".to_owned(),
            event_source: "sts.amazonaws.com".to_owned(),
            region: "us-east-1".to_owned(),
            user_agent: Some("aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22".to_owned()),
            error_code: None,
            event_id: Some("00000000-0000-4000-8000-000000000000".to_owned()),
            vpc_endpoint_id: None,
        },
        details: Details::Canary(CanaryDetails {
            canary: "svc-reporting-export".to_owned(),
            matched_by: CanaryMatchKind::AccessKeyId,
            labels: BTreeMap::from([
                ("host".to_owned(), "test".to_owned()),
                ("location".to_owned(), "tripkey alert test".to_owned()),
            ]),
            memo: Some("A sample alert: nothing was planted and nothing was used.".to_owned()),
        }),
        record,
        withdrawn_because: None,
        replaces: Vec::new(),
    };
    Notification {
        alert,
        detected_at: now,
        link: None,
        digest: None,
        placements: vec![crate::PlacementNote {
            host: Some("test".to_owned()),
            path: Some("tripkey alert test".to_owned()),
            format: None,
            user: None,
        }],
    }
}
