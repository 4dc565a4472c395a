//! A canary's life after issue: rotation of IAM keys with a grace period, renewal of
//! short-term credentials before they expire, and what a use changes.

use store::{CanaryFilter, CanaryId, CanaryKind, CanaryRecord, CanaryStatus, Secret};
use trail::EventTime;

use crate::issuer::{IssueRequest, Issued, Issuer};
use crate::service::{AfterTrigger, CanaryService, ServiceError, Settings};

/// A canary with fresh credentials, to plant in place of the old ones (shown once).
#[derive(Debug)]
pub struct Replaced {
    /// The record after the change.
    pub record: CanaryRecord,
    /// The new credentials.
    pub credentials: Issued,
    /// The key the new one replaces. A rotated IAM key keeps working until the grace period
    /// ends; a renewed short-term key lapses at its own expiry.
    pub replaced_key: String,
    /// Old keys of earlier rotations deleted before their grace period ended, because IAM
    /// allows a user only two keys.
    pub deleted_early: Vec<String>,
}

/// What one maintenance pass did.
#[derive(Debug, Default)]
pub struct Maintenance {
    /// Short-term canaries renewed, with their new credentials.
    pub renewed: Vec<Replaced>,
    /// Rotated keys deleted because their grace period was over: (canary name, key).
    pub keys_deleted: Vec<(String, String)>,
    /// Short-term canaries whose credentials ran out without a renewal.
    pub expired: Vec<CanaryRecord>,
    /// IAM-user canaries whose holdings in IAM were compared with what tripkey made.
    pub integrity_checked: usize,
    /// `canary-drift` and `canary-exposed` alerts for what the comparison found. The same
    /// change gives the same dedup key at every pass, so a store keeps one alert for it.
    pub integrity_alerts: Vec<detect::Alert>,
    /// What failed, per canary, with the error; the pass goes on past each.
    pub failures: Vec<(String, ServiceError)>,
}

impl Settings {
    /// The lifetime of a short-term kind, in seconds; 0 for IAM users.
    pub(crate) fn duration_seconds(&self, kind: CanaryKind) -> u32 {
        match kind {
            CanaryKind::IamUser => 0,
            CanaryKind::Federation => self.federation_seconds,
            CanaryKind::RoleSession => self.role_session_seconds,
        }
    }
}

impl<I: Issuer> CanaryService<I> {
    /// Gives a canary new credentials now. An IAM-user canary gets a second key and its old
    /// key is deleted by [`CanaryService::maintain`] once the rotation grace period is over;
    /// a short-term canary is renewed. A kept secret is replaced by the new one.
    pub async fn rotate(&self, id_or_name: &str) -> Result<Replaced, ServiceError> {
        let record = self.find(id_or_name).await?;
        self.ensure_own(&record)?;
        if record.status == CanaryStatus::Revoked {
            return Err(ServiceError::Revoked(record.name));
        }
        if record.kind == CanaryKind::IamUser {
            self.rotate_key(record).await
        } else {
            self.renew(record, store::now()).await
        }
    }

    async fn rotate_key(&self, record: CanaryRecord) -> Result<Replaced, ServiceError> {
        // IAM allows two keys per user: a key still in its grace period must go first.
        let mut deleted_early = Vec::new();
        for key in self.store.keys(&record.id).await? {
            if key.retired_at.is_some() && key.deleted_at.is_none() {
                self.delete_retired_key(&record, &key.access_key_id, store::now())
                    .await?;
                deleted_early.push(key.access_key_id);
            }
        }
        let credentials = self.issuer.add_key(&record).await?;
        let keep = record.secret_kept.then_some(&credentials.secret_access_key);
        let rotated = self
            .store
            .rotate(&record.id, &credentials.access_key_id, keep, store::now())
            .await;
        match rotated {
            Ok(updated) => Ok(Replaced {
                record: updated,
                credentials,
                replaced_key: record.access_key_id,
                deleted_early,
            }),
            Err(error) => {
                // Best effort: the store error is what the caller needs to see, and a key the
                // store does not know of must not be left behind.
                let _ = self
                    .issuer
                    .delete_key(&record, &credentials.access_key_id)
                    .await;
                Err(error.into())
            }
        }
    }

    /// Issues fresh short-term credentials under the canary's name, so its principal ARN
    /// stays the same.
    async fn renew(&self, record: CanaryRecord, at: EventTime) -> Result<Replaced, ServiceError> {
        let request = IssueRequest {
            kind: record.kind,
            name: record.name.clone(),
            path: record.path.clone(),
            duration_seconds: self.settings.duration_seconds(record.kind),
        };
        let credentials = self.issuer.issue(&request).await?;
        let keep: Option<&Secret> = record.secret_kept.then_some(&credentials.secret_access_key);
        let updated = self
            .store
            .renew(
                &record.id,
                &credentials.access_key_id,
                credentials.expires_at,
                keep,
                at,
            )
            .await?;
        Ok(Replaced {
            record: updated,
            credentials,
            replaced_key: record.access_key_id,
            deleted_early: Vec::new(),
        })
    }

    async fn delete_retired_key(
        &self,
        record: &CanaryRecord,
        access_key_id: &str,
        at: EventTime,
    ) -> Result<(), ServiceError> {
        self.issuer.delete_key(record, access_key_id).await?;
        self.store
            .mark_key_deleted(&record.id, access_key_id, at)
            .await?;
        Ok(())
    }

    /// One maintenance pass at `now`, as `tripkey serve` runs on a schedule: renews short-term
    /// canaries that expire within the renewal lead, deletes rotated keys whose grace period
    /// is over, and marks canaries whose credentials ran out as expired. Only canaries of this
    /// service's issuer are touched. A failure is recorded and the pass goes on.
    pub async fn maintain(&self, now: EventTime) -> Result<Maintenance, ServiceError> {
        let mut done = Maintenance::default();
        let filter = CanaryFilter {
            issuer: Some(self.issuer.issuer()),
            ..CanaryFilter::default()
        };
        let renew_by = now.offset(self.settings.renew_before.millis());
        for record in self.store.list(&filter).await? {
            let due = record.kind != CanaryKind::IamUser
                && record.status != CanaryStatus::Revoked
                && record.expires_at.is_some_and(|expiry| expiry <= renew_by);
            if !due {
                continue;
            }
            let lapsed = record.expires_at.is_some_and(|expiry| expiry <= now);
            let (id, name, status) = (record.id.clone(), record.name.clone(), record.status);
            match self.renew(record, now).await {
                Ok(renewed) => done.renewed.push(renewed),
                Err(error) => {
                    if lapsed && status != CanaryStatus::Expired {
                        done.expired.push(self.store.mark_expired(&id, now).await?);
                    }
                    done.failures.push((name, error));
                }
            }
        }
        let grace_ended = now.offset(-self.settings.rotation_grace.millis());
        for key in self.store.keys_awaiting_deletion(grace_ended).await? {
            let Some(record) = self.store.get(&key.canary_id).await? else {
                continue;
            };
            if record.issuer != self.issuer.issuer() {
                continue;
            }
            match self
                .delete_retired_key(&record, &key.access_key_id, now)
                .await
            {
                Ok(()) => done.keys_deleted.push((record.name, key.access_key_id)),
                Err(error) => done.failures.push((record.name, error)),
            }
        }
        for record in self.store.list(&filter).await? {
            if record.kind != CanaryKind::IamUser || record.status == CanaryStatus::Revoked {
                continue;
            }
            match self.check_integrity(&record, now).await {
                Ok(Some(alerts)) => {
                    done.integrity_checked += 1;
                    done.integrity_alerts.extend(alerts);
                }
                Ok(None) => {}
                Err(error) => done.failures.push((record.name, error)),
            }
        }
        Ok(done)
    }

    /// Adds a canary's integrity to its stealth check ([`crate::Inventory::check`]), for an
    /// IAM-user canary of this issuer. An IAM read that fails is reported in the check, not
    /// as an error, so the stealth half still answers.
    pub async fn with_integrity(
        &self,
        check: crate::CanaryCheck,
        now: EventTime,
    ) -> Result<crate::CanaryCheck, ServiceError> {
        if check.canary.issuer != self.issuer.issuer()
            || check.canary.kind != CanaryKind::IamUser
            || check.canary.status == CanaryStatus::Revoked
        {
            return Ok(check);
        }
        let report = match self.check_integrity(&check.canary, now).await {
            Ok(Some(differences)) => crate::IntegrityReport {
                checked: true,
                differences,
                error: None,
            },
            Ok(None) => return Ok(check),
            Err(error) => crate::IntegrityReport {
                checked: false,
                differences: Vec::new(),
                error: Some(error.to_string()),
            },
        };
        Ok(check.with_integrity(report))
    }

    /// Compares what IAM says an IAM-user canary holds with what tripkey made, and returns
    /// an alert for each difference; `None` when the issuer has nothing to check. Every key
    /// the store knows for the canary (retired ones in their grace period included) is its
    /// own.
    pub async fn check_integrity(
        &self,
        record: &CanaryRecord,
        now: EventTime,
    ) -> Result<Option<Vec<detect::Alert>>, ServiceError> {
        let Some(holdings) = self.issuer.holdings(record).await? else {
            return Ok(None);
        };
        let keys: Vec<String> = self
            .store
            .keys(&record.id)
            .await?
            .into_iter()
            .map(|key| key.access_key_id)
            .collect();
        let canary = crate::watch::detect_canary(record, keys.clone());
        let own = |key: &str| key == record.access_key_id || keys.iter().any(|known| known == key);
        Ok(Some(detect::integrity::check_holdings(
            &canary, &holdings, own, now,
        )))
    }

    /// With `after_trigger = deactivate`, revokes this issuer's canaries that a use has
    /// triggered (`tripkey serve` marks them when it commits the alert). Returns the names
    /// revoked and the failures, which are tried again at the next pass; with
    /// `keep-watching` it does nothing.
    pub async fn deactivate_triggered(
        &self,
    ) -> Result<(Vec<String>, Vec<(String, ServiceError)>), ServiceError> {
        let (mut revoked, mut failures) = (Vec::new(), Vec::new());
        if self.settings.after_trigger != AfterTrigger::Deactivate {
            return Ok((revoked, failures));
        }
        let triggered = self
            .store
            .list(&CanaryFilter {
                status: Some(CanaryStatus::Triggered),
                issuer: Some(self.issuer.issuer()),
                ..CanaryFilter::default()
            })
            .await?;
        for record in triggered {
            match self
                .revoke(record.id.as_str(), "deactivated after it was used")
                .await
            {
                Ok(_) => revoked.push(record.name),
                Err(error) => failures.push((record.name, error)),
            }
        }
        Ok((revoked, failures))
    }

    /// Records a use of the canary `id` that an alert reported: a `triggered` event, the
    /// alert time (so the last-used poller does not report the same use again) and, when so
    /// configured, deactivation.
    pub async fn record_use(
        &self,
        id: &CanaryId,
        alert: &detect::Alert,
    ) -> Result<CanaryRecord, ServiceError> {
        let detail = serde_json::json!({
            "dedup_key": alert.dedup_key,
            "event_id": alert.call.event_id,
            "source_ip": alert.call.source_ip,
        });
        self.store.set_last_alert_at(id, alert.event_time).await?;
        let record = self
            .store
            .mark_triggered(id, alert.event_time, detail)
            .await?;
        match self.settings.after_trigger {
            AfterTrigger::KeepWatching => Ok(record),
            AfterTrigger::Deactivate if record.status == CanaryStatus::Revoked => Ok(record),
            AfterTrigger::Deactivate => {
                let revocation = self
                    .revoke(id.as_str(), "deactivated after it was used")
                    .await?;
                Ok(revocation.canary)
            }
        }
    }
}
