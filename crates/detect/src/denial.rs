//! Denial bursts: one principal probing what a stolen key may do.
//!
//! Per principal (ARN, else access key), across regions, a burst opens when the sliding window
//! of W holds N denials, stays open while denials keep coming with gaps of at most W, and
//! closes after more than W of quiet. The alert is raised when the burst opens and keeps its
//! dedup key as it grows; its final form is emitted when the burst closes.

use std::collections::BTreeSet;

use trail::{EventTime, Record};

use crate::alert::{Alert, AlertStatus, CallContext, DenialBurstDetails, Details, Rule, Severity};
use crate::config::DenialConfig;
use crate::state::{Burst, DenialMark, DenialTrack, DetectorState};

/// True for the error codes that mean "not allowed": `AccessDenied*`, `*UnauthorizedOperation`
/// (EC2 writes `Client.UnauthorizedOperation`), `AuthorizationError`, `AuthorizationFailure`
/// and `VpceAccessDenied`.
pub fn is_denial_code(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || code.ends_with("UnauthorizedOperation")
        || matches!(
            code,
            "AuthorizationError" | "AuthorizationFailure" | "VpceAccessDenied"
        )
}

/// The denial burst detector.
#[derive(Clone, Debug)]
pub struct DenialBurstDetector {
    config: DenialConfig,
}

impl DenialBurstDetector {
    /// A detector with the given threshold and window.
    pub fn new(config: DenialConfig) -> DenialBurstDetector {
        DenialBurstDetector { config }
    }

    /// The principal a denial is counted for, if the record is a denial that counts. CloudTrail
    /// log delivery and `HeadBucket` are skipped, as CIS 4.1 does.
    pub fn counted_principal<'r>(record: &'r Record<'_>) -> Option<&'r str> {
        let fields = &record.fields;
        if !is_denial_code(fields.error_code.as_deref()?)
            || fields.source_ip_address.as_deref() == Some("delivery.logs.amazonaws.com")
            || fields.event_name == "HeadBucket"
        {
            return None;
        }
        let identity = &fields.user_identity;
        identity
            .arn
            .as_deref()
            .filter(|arn| !arn.is_empty())
            .or(identity.access_key_id.as_deref())
            .filter(|principal| !principal.is_empty())
    }

    /// Counts one record, in event-time order; raises the alert when a burst opens, and the
    /// final form of an earlier burst that this denial proves closed.
    pub fn process(
        &self,
        record: &Record<'_>,
        state: &mut dyn DetectorState,
        alerts: &mut Vec<Alert>,
    ) {
        let Some(principal) = Self::counted_principal(record) else {
            return;
        };
        let fields = &record.fields;
        let now = fields.event_time;
        let window = self.config.window.millis();
        let mut track = state.remove_denial_track(principal).unwrap_or_default();

        if let Some(burst) = &track.burst {
            if now.millis() - burst.last_time.millis() > window {
                let closed = track.burst.take().expect("checked above");
                alerts.push(self.burst_alert(principal, &closed, AlertStatus::Final));
                track.window.clear();
            }
        }

        let mark = DenialMark {
            time: now,
            event_name: fields.event_name.to_string(),
            error_code: fields.error_code.as_deref().unwrap_or_default().to_owned(),
            region: fields.aws_region.to_string(),
        };
        match &mut track.burst {
            Some(burst) => {
                burst.count += 1;
                burst.last_time = burst.last_time.max(now);
                burst.first_time = burst.first_time.min(now);
                burst.event_names.insert(mark.event_name);
                burst.error_codes.insert(mark.error_code);
                burst.regions.insert(mark.region);
            }
            None => {
                // Records arrive in event-time order within the reorder window; a later
                // straggler is still placed where it belongs.
                let position = track.window.partition_point(|m| m.time <= now);
                track.window.insert(position, mark);
                let newest = track.window.back().map(|m| m.time).unwrap_or(now);
                while track
                    .window
                    .front()
                    .is_some_and(|m| newest.millis() - m.time.millis() > window)
                {
                    track.window.pop_front();
                }
                let threshold = self.config.threshold.max(1) as usize;
                while track.window.len() > threshold {
                    track.window.pop_front();
                }
                if track.window.len() >= threshold {
                    let burst = open_burst(&track, record);
                    alerts.push(self.burst_alert(principal, &burst, AlertStatus::Open));
                    track.window.clear();
                    track.burst = Some(burst);
                }
            }
        }
        state.put_denial_track(principal, track);
    }

    /// Closes the bursts that have been quiet for more than W at `now`, emitting their final
    /// form, and forgets principals whose windows hold nothing recent.
    pub fn expire(&self, now: EventTime, state: &mut dyn DetectorState, alerts: &mut Vec<Alert>) {
        let cutoff = now.offset(-self.config.window.millis());
        for principal in state.denial_principals_idle_since(cutoff) {
            if let Some(track) = state.remove_denial_track(&principal) {
                if let Some(burst) = track.burst {
                    alerts.push(self.burst_alert(&principal, &burst, AlertStatus::Final));
                }
            }
        }
    }

    /// Closes every open burst (the end of a scan), emitting their final form.
    pub fn finish(&self, state: &mut dyn DetectorState, alerts: &mut Vec<Alert>) {
        let mut principals = state.denial_principals();
        principals.sort();
        for principal in principals {
            if let Some(burst) = state
                .remove_denial_track(&principal)
                .and_then(|track| track.burst)
            {
                alerts.push(self.burst_alert(&principal, &burst, AlertStatus::Final));
            }
        }
    }

    fn burst_alert(&self, principal: &str, burst: &Burst, status: AlertStatus) -> Alert {
        let details = DenialBurstDetails {
            principal_key: principal.to_owned(),
            count: burst.count,
            event_names: burst.event_names.iter().cloned().collect(),
            error_codes: burst.error_codes.iter().cloned().collect(),
            regions: burst.regions.iter().cloned().collect(),
            first_time: burst.first_time,
            trigger_time: burst.trigger_time,
            last_time: burst.last_time,
        };
        let summary = format!(
            "{} denied calls by {principal} between {} and {} ({}; {})",
            burst.count,
            burst.first_time,
            burst.last_time,
            list_preview(&details.event_names),
            details.error_codes.join(", "),
        );
        Alert {
            dedup_key: format!(
                "{}:{principal}:{}",
                Rule::AccessDeniedBurst,
                burst.first_time.millis()
            ),
            rule: Rule::AccessDeniedBurst,
            severity: Severity::Medium,
            status,
            summary,
            event_time: burst.trigger_time,
            call: burst.trigger_call.clone(),
            details: Details::DenialBurst(details),
            record: burst.trigger_record.clone(),
        }
    }
}

fn open_burst(track: &DenialTrack, trigger: &Record<'_>) -> Burst {
    let names = |pick: fn(&DenialMark) -> &String| -> BTreeSet<String> {
        track.window.iter().map(|m| pick(m).clone()).collect()
    };
    let first_time = track.window.front().map(|m| m.time).unwrap_or_default();
    let last_time = track.window.back().map(|m| m.time).unwrap_or_default();
    Burst {
        first_time,
        trigger_time: trigger.fields.event_time,
        last_time,
        count: track.window.len() as u64,
        event_names: names(|m| &m.event_name),
        error_codes: names(|m| &m.error_code),
        regions: names(|m| &m.region),
        trigger_call: CallContext::of(trigger),
        trigger_record: trigger.raw_one_line(),
    }
}

fn list_preview(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}
