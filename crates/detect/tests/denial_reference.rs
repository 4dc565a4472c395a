//! The denial burst detector against an independent formulation of DESIGN.md's rule.
//!
//! Reference: split one principal's denial times into segments wherever the gap exceeds W. A
//! burst can only live inside one segment (W of quiet closes it, and only then can another
//! start), and it opens at the first denial whose window of W holds N denials. It then runs to
//! the end of the segment.

use std::sync::Arc;

use detect::alert::Details;
use detect::{AlertStatus, CanaryRegistry, DetectConfig, Engine, MemoryState, Rule, Span};
use proptest::prelude::*;
use serde_json::json;
use trail::{EventTime, Record};

#[derive(Debug, PartialEq)]
struct Burst {
    first: i64,
    trigger: i64,
    last: i64,
    count: u64,
}

fn reference(times: &[i64], threshold: usize, window: i64) -> Vec<Burst> {
    let mut bursts = Vec::new();
    let mut start = 0;
    while start < times.len() {
        let mut end = start;
        while end + 1 < times.len() && times[end + 1] - times[end] <= window {
            end += 1;
        }
        let segment = &times[start..=end];
        if let Some(trigger) = (threshold - 1..segment.len())
            .find(|&i| segment[i] - segment[i + 1 - threshold] <= window)
        {
            let first = trigger + 1 - threshold;
            bursts.push(Burst {
                first: segment[first],
                trigger: segment[trigger],
                last: segment[segment.len() - 1],
                count: (segment.len() - first) as u64,
            });
        }
        start = end + 1;
    }
    bursts
}

fn detected(times: &[i64], threshold: u32, window: i64) -> Vec<Burst> {
    let mut config = DetectConfig::default();
    config.denial.threshold = threshold;
    config.denial.window = Span(window);
    let mut engine = Engine::new(
        &config,
        Arc::new(CanaryRegistry::default()),
        MemoryState::default(),
    );
    let mut alerts = Vec::new();
    for (index, &time) in times.iter().enumerate() {
        let value = json!({
            "eventTime": EventTime(time).to_string(), "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.1",
            "errorCode": "AccessDenied", "eventID": format!("e{index}"),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/probe"}
        });
        let raw = serde_json::value::RawValue::from_string(value.to_string()).unwrap();
        engine.process(&Record::from_raw(&raw).unwrap(), &mut alerts);
    }
    engine.finish(&mut alerts);
    alerts
        .iter()
        .filter(|alert| alert.rule == Rule::AccessDeniedBurst && alert.status == AlertStatus::Final)
        .map(|alert| match &alert.details {
            Details::DenialBurst(details) => Burst {
                first: details.first_time.millis(),
                trigger: details.trigger_time.millis(),
                last: details.last_time.millis(),
                count: details.count,
            },
            _ => unreachable!(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn matches_the_reference(
        gaps in proptest::collection::vec(0i64..200_000, 0..60),
        threshold in 1u32..8,
        window_seconds in 1i64..300,
    ) {
        let start = 1_700_000_000_000i64;
        let times: Vec<i64> = gaps
            .iter()
            .scan(start, |time, gap| {
                *time += gap / 1000 * 1000;
                Some(*time)
            })
            .collect();
        let window = window_seconds * 1000;
        prop_assert_eq!(
            detected(&times, threshold, window),
            reference(&times, threshold as usize, window)
        );
    }
}

#[test]
fn the_reference_itself_reads_the_spec() {
    let minute = 60_000;
    // Five within five minutes, then one four minutes later (gap <= W keeps it open).
    let times = [0, 1_000, 2_000, 3_000, 4_000, 4_000 + 4 * minute];
    let bursts = reference(&times, 5, 5 * minute);
    assert_eq!(bursts.len(), 1);
    assert_eq!(bursts[0].count, 6);
    // More than W of quiet closes it; the next four alone are not a burst.
    let times = [
        0,
        1_000,
        2_000,
        3_000,
        4_000,
        10 * minute,
        10 * minute + 1_000,
    ];
    assert_eq!(reference(&times, 5, 5 * minute).len(), 1);
    assert_eq!(reference(&times, 5, 5 * minute)[0].last, 4_000);
}
