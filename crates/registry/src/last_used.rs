//! The last-used safety net: IAM's record of when each canary key was last used catches calls
//! CloudTrail does not log, which a key probe made to stay unseen would use.

use std::collections::HashMap;

use detect::ReportedUse;
use store::{CanaryFilter, CanaryKey, CanaryKind, CanaryRecord, CanaryStatus};

use crate::issuer::{IssueError, Issuer, KeyUse, UsageLookup, UserUsage};
use crate::service::{CanaryService, ServiceError};
use crate::watch::detect_canary;

/// Above this many keys, a poll reads the credential report rather than asking IAM about
/// each key: `GetAccessKeyLastUsed` is throttled at a few calls a second per account.
pub const DEFAULT_REPORT_ABOVE: usize = 1_000;

/// A use IAM reports that no alert has covered yet.
#[derive(Debug)]
pub struct Trip {
    /// The canary used.
    pub canary: CanaryRecord,
    /// Its canary-use alert, through the same model as the detectors'.
    pub alert: detect::Alert,
}

/// What one poll found.
#[derive(Debug, Default)]
pub struct Poll {
    /// New uses, one alert each.
    pub trips: Vec<Trip>,
    /// How many keys were checked.
    pub keys_checked: usize,
    /// True when the credential report answered instead of per-key calls.
    pub used_report: bool,
    /// Keys IAM could not be asked about, with the error; the poll goes on past each.
    pub failures: Vec<(String, IssueError)>,
}

impl<I: Issuer> CanaryService<I> {
    /// Asks IAM when each live key of this issuer's IAM-user canaries was last used, and
    /// returns an alert for every canary whose latest use is newer than its last alert. With
    /// more than `report_above` keys it reads the credential report instead.
    ///
    /// Nothing is recorded: hand each [`Trip`] to [`CanaryService::record_use`] once its
    /// alert is delivered, so a crash in between re-reports the use rather than losing it.
    pub async fn poll_last_used<L: UsageLookup>(
        &self,
        lookup: &L,
        report_above: usize,
    ) -> Result<Poll, ServiceError> {
        let filter = CanaryFilter {
            kind: Some(CanaryKind::IamUser),
            issuer: Some(self.issuer.issuer()),
            ..CanaryFilter::default()
        };
        let canaries: Vec<CanaryRecord> = self
            .store
            .list(&filter)
            .await?
            .into_iter()
            .filter(|canary| canary.status != CanaryStatus::Revoked)
            .collect();
        let mut live_keys: HashMap<_, Vec<CanaryKey>> = HashMap::new();
        for key in self.store.all_keys().await? {
            if key.deleted_at.is_none() {
                live_keys
                    .entry(key.canary_id.clone())
                    .or_default()
                    .push(key);
            }
        }
        let keys_checked = live_keys.values().map(Vec::len).sum();
        let mut poll = Poll {
            keys_checked,
            used_report: keys_checked > report_above,
            ..Poll::default()
        };
        let report = if poll.used_report {
            let rows = lookup.credential_report().await?;
            rows.into_iter()
                .map(|row| (row.user_name.clone(), row))
                .collect()
        } else {
            HashMap::new()
        };
        for canary in canaries {
            let keys = live_keys.remove(&canary.id).unwrap_or_default();
            let latest = if poll.used_report {
                report
                    .get(&canary.name)
                    .and_then(|row| latest_reported_use(row, &keys))
            } else {
                let mut latest: Option<(String, KeyUse)> = None;
                for key in keys {
                    match lookup.key_last_used(&key.access_key_id).await {
                        Ok(Some(used)) if latest.as_ref().is_none_or(|(_, l)| used.at > l.at) => {
                            latest = Some((key.access_key_id, used));
                        }
                        Ok(_) => {}
                        Err(error) => poll.failures.push((key.access_key_id, error)),
                    }
                }
                latest
            };
            let Some((access_key_id, used)) = latest else {
                continue;
            };
            if canary
                .last_alert_at
                .is_some_and(|alerted| used.at <= alerted)
            {
                continue;
            }
            let alert = detect_canary(&canary, Vec::new()).reported_use_alert(&ReportedUse {
                access_key_id,
                at: used.at,
                service: used.service,
                region: used.region,
            });
            poll.trips.push(Trip { canary, alert });
        }
        Ok(poll)
    }
}

/// The latest use among a user's report slots, attributed to the live key whose issue time is
/// nearest the slot's creation time (the report does not name keys).
fn latest_reported_use(row: &UserUsage, keys: &[CanaryKey]) -> Option<(String, KeyUse)> {
    let slot = row
        .keys
        .iter()
        .filter(|slot| slot.last_used.is_some())
        .max_by_key(|slot| slot.last_used.as_ref().map(|used| used.at))?;
    let key = match slot.created_at {
        Some(created) => keys
            .iter()
            .min_by_key(|key| (key.issued_at.0 - created.0).unsigned_abs()),
        None => keys.last(),
    }?;
    Some((key.access_key_id.clone(), slot.last_used.clone()?))
}
