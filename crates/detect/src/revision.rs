//! Raising what changed: the stateful detectors work out their alerts again when a late record
//! arrives, and compare them with the versions already raised.

use crate::alert::{Alert, AlertStatus};

/// How a detector's alerts may be revised.
pub(crate) struct Revision<'a> {
    /// Raise a changed alert that is still open at once (`serve`, which shows alerts as they
    /// grow), rather than only its final form (`scan`).
    pub updates: bool,
    /// True when a new alert (the later argument) is the same detection as one raised under
    /// another dedup key (the earlier), which it then replaces.
    pub replaces: &'a dyn Fn(&Alert, &Alert) -> bool,
    /// Why a raised alert that no longer stands is withdrawn.
    pub withdrawn_because: &'a dyn Fn(&Alert) -> String,
}

/// Compares the alerts as they now stand (`current`) with the versions already raised, and
/// raises the difference: a new alert; an alert's final form; a change to an open one when
/// `updates` is set; an alert under a new key with the keys it replaces; and a raised alert
/// that no longer stands, withdrawn. Returns the versions raised that are not final, to
/// compare with next time.
pub(crate) fn raise_changes(
    raised: Vec<Alert>,
    current: Vec<Alert>,
    revision: &Revision<'_>,
    alerts: &mut Vec<Alert>,
) -> Vec<Alert> {
    let mut unmatched: Vec<Option<Alert>> = raised.into_iter().map(Some).collect();
    let mut kept = Vec::new();
    for mut alert in current {
        let same_key = unmatched
            .iter_mut()
            .find(|earlier| {
                earlier
                    .as_ref()
                    .is_some_and(|earlier| earlier.dedup_key == alert.dedup_key)
            })
            .and_then(Option::take);
        let version = match same_key {
            Some(earlier) => {
                let changed = earlier.status != alert.status
                    || earlier.details != alert.details
                    || earlier.call != alert.call;
                if changed && (alert.status == AlertStatus::Final || revision.updates) {
                    Some(alert)
                } else {
                    if alert.status != AlertStatus::Final {
                        kept.push(earlier);
                    }
                    None
                }
            }
            None => {
                for earlier in unmatched.iter_mut() {
                    if earlier
                        .as_ref()
                        .is_some_and(|earlier| (revision.replaces)(earlier, &alert))
                    {
                        let earlier = earlier.take().expect("checked above");
                        alert.replaces.push(earlier.dedup_key);
                    }
                }
                Some(alert)
            }
        };
        if let Some(version) = version {
            if version.status != AlertStatus::Final {
                kept.push(version.clone());
            }
            alerts.push(version);
        }
    }
    for mut gone in unmatched.into_iter().flatten() {
        gone.status = AlertStatus::Withdrawn;
        gone.withdrawn_because = Some((revision.withdrawn_because)(&gone));
        alerts.push(gone);
    }
    kept
}
