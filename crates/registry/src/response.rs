//! How well alerts are answered: how long tripkey takes to detect, and people to acknowledge
//! and resolve, and how many resolved alerts were real (fidelity), over a window of days.

use serde::Serialize;
use store::{AlertTiming, Store, StoreError};
use trail::EventTime;

/// The response figures of the alerts detected in a window.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseFigures {
    /// Alerts detected in the window.
    pub alerts: u64,
    /// From the event to its detection (`detected_at - event_time`), over every alert.
    pub time_to_detect: Durations,
    /// From detection to the first acknowledgement, over the acknowledged alerts.
    pub time_to_acknowledge: Durations,
    /// From detection to resolution, over the resolved alerts.
    pub time_to_resolve: Durations,
    /// The share of resolved alerts not marked false positive, from 0 to 1; null while
    /// none is resolved.
    pub fidelity: Option<f64>,
    /// Alerts resolved.
    pub resolved: u64,
    /// Resolved alerts marked false positive.
    pub false_positives: u64,
}

/// The spread of one kind of duration, in milliseconds. Percentiles are nearest-rank: each is
/// one of the measured durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Durations {
    /// The median; null with nothing measured.
    pub median_ms: Option<i64>,
    /// The 90th percentile; null with nothing measured.
    pub p90_ms: Option<i64>,
    /// How many durations were measured.
    pub count: u64,
}

impl Durations {
    /// The median and 90th percentile of `millis`. A negative duration (a clock behind the
    /// event's, or an event time in the future) counts as zero.
    pub fn of(mut millis: Vec<i64>) -> Durations {
        for value in &mut millis {
            *value = (*value).max(0);
        }
        millis.sort_unstable();
        Durations {
            median_ms: nearest_rank(&millis, 50),
            p90_ms: nearest_rank(&millis, 90),
            count: millis.len() as u64,
        }
    }
}

/// The `percent`th percentile of `sorted` by nearest rank: the smallest value with at least
/// `percent`% of the values at or below it.
fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl ResponseFigures {
    /// The figures of these alerts.
    pub fn from_timings(timings: &[AlertTiming]) -> ResponseFigures {
        let since_detection = |at: Option<EventTime>, timing: &AlertTiming| {
            at.map(|at| at.millis().saturating_sub(timing.detected_at.millis()))
        };
        let resolved: Vec<&AlertTiming> = timings
            .iter()
            .filter(|timing| timing.resolved_at.is_some())
            .collect();
        let false_positives = resolved.iter().filter(|t| t.false_positive).count() as u64;
        let resolved_count = resolved.len() as u64;
        ResponseFigures {
            alerts: timings.len() as u64,
            time_to_detect: Durations::of(
                timings
                    .iter()
                    .map(|t| t.detected_at.millis().saturating_sub(t.event_time.millis()))
                    .collect(),
            ),
            time_to_acknowledge: Durations::of(
                timings
                    .iter()
                    .filter_map(|t| since_detection(t.acknowledged_at, t))
                    .collect(),
            ),
            time_to_resolve: Durations::of(
                timings
                    .iter()
                    .filter_map(|t| since_detection(t.resolved_at, t))
                    .collect(),
            ),
            fidelity: (resolved_count > 0)
                .then(|| (resolved_count - false_positives) as f64 / resolved_count as f64),
            resolved: resolved_count,
            false_positives,
        }
    }
}

/// The figures of the alerts detected in the `days` days before `now`.
pub async fn response_figures(
    store: &Store,
    now: EventTime,
    days: u32,
) -> Result<ResponseFigures, StoreError> {
    let since = now.offset(-i64::from(days).saturating_mul(24 * EventTime::HOUR));
    let timings = store.alert_timings(since).await?;
    Ok(ResponseFigures::from_timings(&timings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(
        detect: i64,
        acknowledge: Option<i64>,
        resolve: Option<i64>,
        false_positive: bool,
    ) -> AlertTiming {
        let detected_at = EventTime(1_800_000_000_000);
        AlertTiming {
            rule: "canary-use".to_owned(),
            event_time: detected_at.offset(-detect),
            detected_at,
            acknowledged_at: acknowledge.map(|ms| detected_at.offset(ms)),
            resolved_at: resolve.map(|ms| detected_at.offset(ms)),
            false_positive,
        }
    }

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let of = |values: &[i64]| {
            let d = Durations::of(values.to_vec());
            (d.median_ms, d.p90_ms, d.count)
        };
        assert_eq!(of(&[]), (None, None, 0));
        assert_eq!(of(&[7]), (Some(7), Some(7), 1));
        assert_eq!(of(&[4, 1, 3, 2]), (Some(2), Some(4), 4));
        assert_eq!(of(&[10, 20, 30, 40, 50]), (Some(30), Some(50), 5));
        let hundred: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(of(&hundred), (Some(50), Some(90), 100));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(of(&ten), (Some(5), Some(9), 10));
        assert_eq!(
            of(&[-5, 3]),
            (Some(0), Some(3), 2),
            "a negative delay is zero"
        );
    }

    #[test]
    fn the_median_never_exceeds_the_90th_percentile_and_both_are_measured() {
        // A fixed pseudo-random stream, so a failure repeats.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        for _ in 0..500 {
            let len = (next() % 40) as usize + 1;
            let values: Vec<i64> = (0..len).map(|_| (next() % 100_000) as i64).collect();
            let durations = Durations::of(values.clone());
            let (median, p90) = (durations.median_ms.unwrap(), durations.p90_ms.unwrap());
            assert!(median <= p90, "{values:?}");
            assert!(
                values.contains(&median) && values.contains(&p90),
                "{values:?}"
            );
            let at_or_below = values.iter().filter(|&&v| v <= p90).count();
            assert!(at_or_below * 10 >= len * 9, "{values:?}");
        }
    }

    #[test]
    fn figures_count_each_duration_over_the_alerts_that_have_it() {
        let figures = ResponseFigures::from_timings(&[
            timing(1_000, Some(60_000), Some(600_000), false),
            timing(3_000, Some(120_000), Some(900_000), true),
            timing(2_000, Some(30_000), None, false),
            timing(5_000, None, None, false),
        ]);
        assert_eq!(figures.alerts, 4);
        assert_eq!(
            figures.time_to_detect,
            Durations {
                median_ms: Some(2_000),
                p90_ms: Some(5_000),
                count: 4
            }
        );
        assert_eq!(
            figures.time_to_acknowledge,
            Durations {
                median_ms: Some(60_000),
                p90_ms: Some(120_000),
                count: 3
            }
        );
        assert_eq!(
            figures.time_to_resolve,
            Durations {
                median_ms: Some(600_000),
                p90_ms: Some(900_000),
                count: 2
            }
        );
        assert_eq!((figures.resolved, figures.false_positives), (2, 1));
        assert_eq!(figures.fidelity, Some(0.5));

        let empty = ResponseFigures::from_timings(&[]);
        assert_eq!(empty.fidelity, None);
        assert_eq!(empty.time_to_detect, Durations::default());
    }

    #[tokio::test]
    async fn the_window_holds_the_alerts_detected_in_it() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("tripkey.db")).await.unwrap();
        let now = EventTime(1_800_000_000_000);
        let day = 24 * EventTime::HOUR;
        for (key, detected_at) in [("old", now.offset(-31 * day)), ("new", now.offset(-day))] {
            let body = format!("{{\"dedup_key\":\"{key}\"}}");
            store
                .commit_batch(&store::BatchCommit {
                    source: "test",
                    checkpoint: None,
                    alerts: &[store::AlertRow {
                        dedup_key: key.to_owned(),
                        rule: "canary-use".to_owned(),
                        severity: "critical".to_owned(),
                        status: "final".to_owned(),
                        withdrawn_because: None,
                        replaces: Vec::new(),
                        summary: key.to_owned(),
                        event_time: detected_at.offset(-4_000),
                        limit_key: key.to_owned(),
                        body,
                        sinks: Vec::new(),
                        canary: None,
                        suppressed_by: None,
                    }],
                    at: detected_at,
                })
                .await
                .unwrap();
        }
        store
            .set_alert_state(
                "new",
                store::AlertStateChange::Resolve {
                    false_positive: true,
                },
                None,
                "cli",
                now,
            )
            .await
            .unwrap();
        let figures = response_figures(&store, now, 30).await.unwrap();
        assert_eq!(figures.alerts, 1);
        assert_eq!(figures.time_to_detect.median_ms, Some(4_000));
        assert_eq!(figures.time_to_resolve.median_ms, Some(day));
        assert_eq!(figures.fidelity, Some(0.0));
        assert_eq!(response_figures(&store, now, 40).await.unwrap().alerts, 2);
    }
}
