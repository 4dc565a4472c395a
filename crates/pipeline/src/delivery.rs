//! The outbox to the sinks: every committed alert is a row per sink it is routed to, delivered
//! at once, retried with backoff and jitter while the sink fails, and kept until a sink takes
//! it, so a restart loses nothing.
//!
//! Rate limit: per sink and per canary or principal, the first alert goes out at once and
//! the ones that follow within the window are held, then sent together as one digest when the
//! window ends. Nothing is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use notify::{Digest, Notification, Sink, SinkError};
use store::{Delivery, Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use trail::EventTime;

/// How deliveries are paced.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Repeats for one canary or principal within this window go out as one digest.
    pub rate_window: Duration,
    /// The first retry's wait; it doubles per attempt, and each wait is
    /// drawn between half and all of that (half jitter).
    pub retry_base: Duration,
    /// The longest wait between retries.
    pub retry_cap: Duration,
    /// How often the outbox is looked at when nothing wakes the loop.
    pub poll: Duration,
    /// The dashboard's public URL; alerts link to `{base}/alerts/{dedup key}`.
    pub link_base: Option<String>,
    /// This worker's id: deliveries are claimed in its name, so that workers sharing the
    /// database never send the same one.
    pub worker: String,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            rate_window: Duration::from_secs(60),
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(600),
            poll: Duration::from_secs(1),
            link_base: None,
            worker: crate::default_worker_id(),
        }
    }
}

/// The most alerts one digest stands for. A flood (someone scripting calls with a stolen
/// canary) goes out as one digest of this many per window, so no notification outgrows what
/// receivers take (SNS takes 256 KB) and none is refused for its size.
pub const MAX_DIGEST_ALERTS: usize = 200;

/// The most summaries a digest lists; its count covers them all.
const DIGEST_SUMMARIES: usize = 20;

/// How long a worker's claim on the deliveries of one sink and rate-limit key lasts unrenewed.
/// The worker renews it every third of this while it sends, and gives it back as soon as the
/// outcome is recorded; it runs out only when the worker died (or lost the database) while
/// sending, and then another worker sends them.
pub const DELIVERY_CLAIM: Duration = Duration::from_secs(30);

/// Delivers the outbox to the configured sinks.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    sinks: HashMap<String, Arc<dyn Sink>>,
    settings: DeliverySettings,
}

impl Deliverer {
    /// A deliverer to these sinks (by name).
    pub fn new(store: Store, sinks: Vec<Arc<dyn Sink>>, settings: DeliverySettings) -> Deliverer {
        Deliverer {
            store,
            sinks: sinks
                .into_iter()
                .map(|sink| (sink.name().to_owned(), sink))
                .collect(),
            settings,
        }
    }

    /// Delivers until `shutdown` turns true, looking at the outbox when `wake` is notified (a
    /// commit brought new alerts) and every `poll` otherwise. Each sink has its own loop, so
    /// a slow or hanging sink (an SMTP relay that takes its whole timeout) delays no other.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        self.warn_of_removed_sinks().await;
        let mut loops = JoinSet::new();
        let mut wakes = Vec::new();
        for sink in self.sinks.values() {
            let sink_wake = Arc::new(Notify::new());
            wakes.push(sink_wake.clone());
            loops.spawn(
                self.clone()
                    .run_sink(sink.clone(), sink_wake, shutdown.clone()),
            );
        }
        loop {
            tokio::select! {
                _ = wake.notified() => wakes.iter().for_each(|sink_wake| sink_wake.notify_one()),
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        while loops.join_next().await.is_some() {}
    }

    async fn run_sink(
        self,
        sink: Arc<dyn Sink>,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        while !*shutdown.borrow() {
            if let Err(error) = self.deliver_due_to(&sink, store::now()).await {
                tracing::warn!(sink = %sink.name(), %error, "the outbox could not be read; retrying");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn warn_of_removed_sinks(&self) {
        match self.store.sink_health().await {
            Ok(health) => {
                for sink in health {
                    if sink.pending > 0 && !self.sinks.contains_key(&sink.sink) {
                        tracing::warn!(
                            sink = %sink.sink,
                            pending = sink.pending,
                            "alerts wait for a sink that is no longer configured; add its [[sink]] back to deliver them"
                        );
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the sinks' health"),
        }
    }

    /// One pass over the deliveries due at `now`, every sink at once. Returns how many
    /// notifications it sent. Deliveries to a sink that is not configured wait for it.
    pub async fn deliver_due(&self, now: EventTime) -> Result<usize, StoreError> {
        let mut passes = JoinSet::new();
        for sink in self.sinks.values() {
            let (deliverer, sink) = (self.clone(), sink.clone());
            passes.spawn(async move { deliverer.deliver_due_to(&sink, now).await });
        }
        let mut sent = 0;
        let mut first_error = None;
        while let Some(result) = passes.join_next().await {
            match result {
                Ok(Ok(count)) => sent += count,
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(panic) => tracing::error!(%panic, "a delivery pass panicked"),
            }
        }
        first_error.map_or(Ok(sent), Err)
    }

    /// One pass over one sink's deliveries due at `now`.
    async fn deliver_due_to(
        &self,
        sink: &Arc<dyn Sink>,
        now: EventTime,
    ) -> Result<usize, StoreError> {
        let sink_name = sink.name().to_owned();
        let worker = &self.settings.worker;
        let due = self
            .store
            .claim_deliveries(&sink_name, worker, now, DELIVERY_CLAIM, 500)
            .await?;
        let mut claimed: Vec<String> = due.iter().map(|d| d.limit_key.clone()).collect();
        claimed.sort_unstable();
        claimed.dedup();
        let delivering = self.deliver_claimed(sink, due, now);
        tokio::pin!(delivering);
        let mut renew = tokio::time::interval(DELIVERY_CLAIM / 3);
        renew.tick().await;
        let sent = loop {
            tokio::select! {
                sent = &mut delivering => break sent,
                _ = renew.tick() => self.renew_claims(&sink_name, &claimed).await,
            }
        };
        // Whatever happened, the outcomes are recorded: the keys go back for any worker.
        for limit_key in &claimed {
            if let Err(error) = self
                .store
                .release_deliveries(&sink_name, limit_key, worker)
                .await
            {
                tracing::warn!(sink = %sink_name, %error, "cannot give a delivery claim back; it runs out by itself");
            }
        }
        sent
    }

    /// Keeps this worker's claims on `keys` of `sink` alive while their sends run.
    async fn renew_claims(&self, sink: &str, keys: &[String]) {
        let worker = &self.settings.worker;
        for key in keys {
            match self.store.renew_deliveries(sink, key, worker, DELIVERY_CLAIM).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(sink, "a delivery claim ran out in the middle of a send; another worker may send it too"),
                Err(error) => tracing::warn!(sink, %error, "cannot renew a delivery claim"),
            }
        }
    }

    /// Delivers `due`, deliveries to `sink` this worker has claimed.
    async fn deliver_claimed(
        &self,
        sink: &Arc<dyn Sink>,
        due: Vec<Delivery>,
        now: EventTime,
    ) -> Result<usize, StoreError> {
        let sink_name = sink.name().to_owned();
        let mut groups: Vec<(String, Vec<Delivery>)> = Vec::new();
        for delivery in due {
            match groups
                .iter_mut()
                .find(|(key, _)| *key == delivery.limit_key)
            {
                Some((_, group)) => group.push(delivery),
                None => groups.push((delivery.limit_key.clone(), vec![delivery])),
            }
        }
        let mut sends = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, Vec<(i64, u32)>> = HashMap::new();
        for (limit_key, group) in groups {
            // A resolution goes at once and on its own: it closes an incident, so it is
            // no repeat for the rate window to hold back, and it does not start one.
            let (resolutions, group): (Vec<Delivery>, Vec<Delivery>) =
                group.into_iter().partition(|d| d.kind == "resolved");
            for resolution in resolutions {
                let store = self.store.clone();
                let settings = self.settings.clone();
                let sink = sink.clone();
                let in_task = vec![(resolution.id, resolution.attempts)];
                let task = sends.spawn(async move {
                    send_one(&store, &settings, sink, vec![resolution], now).await
                });
                in_flight.insert(task.id(), in_task);
            }
            if group.is_empty() {
                continue;
            }
            let ids: Vec<i64> = group.iter().map(|d| d.id).collect();
            let window = millis(self.settings.rate_window);
            let last = self.store.last_delivered_at(&sink_name, &limit_key).await?;
            if let Some(window_end) = last.map(|last| last.offset(window)) {
                if now < window_end {
                    self.store.postpone_deliveries(&ids, window_end).await?;
                    continue;
                }
            }
            let mut pending = self
                .store
                .pending_deliveries(&sink_name, &limit_key)
                .await?;
            pending.retain(|d| d.kind != "resolved");
            let fresh = |d: &Delivery| d.attempts == 0 && d.next_attempt_at == d.created_at;
            let send = if pending.len() == group.len() && group.iter().all(fresh) {
                // The first alert for this key goes now; its followers wait for the window.
                let (first, rest) = group.split_first().expect("a group is never empty");
                let held: Vec<i64> = rest.iter().map(|d| d.id).collect();
                if !held.is_empty() {
                    self.store
                        .postpone_deliveries(&held, now.offset(window))
                        .await?;
                }
                vec![first.clone()]
            } else {
                // Repeats held back, a retry, or alerts waiting behind one: what is pending
                // for the key goes together, up to a digest's worth; the rest waits for the
                // next window.
                pending.truncate(MAX_DIGEST_ALERTS);
                pending
            };
            // A withdrawal goes on its own: in a digest its dedup key would read as one more
            // alert raised.
            let (withdrawals, raised): (Vec<Delivery>, Vec<Delivery>) = send
                .into_iter()
                .partition(|d| d.alert.status == "withdrawn");
            let notices = withdrawals
                .into_iter()
                .map(|withdrawal| vec![withdrawal])
                .chain((!raised.is_empty()).then_some(raised));
            for send in notices {
                let store = self.store.clone();
                let settings = self.settings.clone();
                let sink = sink.clone();
                let in_task = send.iter().map(|d| (d.id, d.attempts)).collect();
                let task =
                    sends.spawn(async move { send_one(&store, &settings, sink, send, now).await });
                in_flight.insert(task.id(), in_task);
            }
        }
        // Every send is awaited even after one fails to record its outcome: dropping the set
        // would abort sends a sink may already have taken, and they would go out again.
        let mut sent = 0;
        let mut first_error = None;
        while let Some(result) = sends.join_next_with_id().await {
            match result {
                Ok((_, Ok(true))) => sent += 1,
                Ok((_, Ok(false))) => {}
                Ok((_, Err(error))) => {
                    first_error.get_or_insert(error);
                }
                Err(panic) => {
                    // A bug in a sink: back off as for a failure rather than try again at
                    // every pass.
                    let error = format!("the sink failed unexpectedly: {panic}");
                    tracing::error!(sink = %sink_name, %error, "a delivery task panicked");
                    let deliveries = in_flight.remove(&panic.id()).unwrap_or_default();
                    let ids: Vec<i64> = deliveries.iter().map(|(id, _)| *id).collect();
                    let attempts = deliveries.iter().map(|(_, n)| *n).max().unwrap_or(0);
                    let wait = notify::retry_delay(
                        attempts,
                        self.settings.retry_base,
                        self.settings.retry_cap,
                        &mut rand::rng(),
                    );
                    let recorded = self
                        .store
                        .deliveries_failed(
                            &sink_name,
                            &ids,
                            now,
                            &error,
                            Some(now.offset(millis(wait))),
                        )
                        .await;
                    if let Err(error) = recorded {
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        first_error.map_or(Ok(sent), Err)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Sends one notification for `deliveries` (a digest when there are several) and records the
/// outcome. `Ok(true)` when the sink took it.
async fn send_one(
    store: &Store,
    settings: &DeliverySettings,
    sink: Arc<dyn Sink>,
    deliveries: Vec<Delivery>,
    now: EventTime,
) -> Result<bool, StoreError> {
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let mut notification = match notification(settings, &deliveries) {
        Ok(notification) => notification,
        Err(error) => {
            store
                .deliveries_failed(sink.name(), &ids, now, &error, None)
                .await?;
            return Ok(false);
        }
    };
    notification.placements = placements_of(store, &notification.alert).await;
    let resolution = deliveries.iter().all(|d| d.kind == "resolved");
    let outcome = if resolution {
        match sink.resolve(&notification) {
            Some(sending) => sending.await,
            None => {
                store.notices_settled(&deliveries, now).await?;
                return Ok(false);
            }
        }
    } else {
        sink.deliver(&notification).await
    };
    match outcome {
        Ok(()) => {
            store.deliveries_done(sink.name(), &deliveries, now).await?;
            Ok(true)
        }
        Err(SinkError::Retryable(error)) => {
            let attempts = deliveries.iter().map(|d| d.attempts).max().unwrap_or(0);
            let wait = notify::retry_delay(
                attempts,
                settings.retry_base,
                settings.retry_cap,
                &mut rand::rng(),
            );
            tracing::warn!(sink = %sink.name(), %error, retry_in = ?wait, "delivery failed; will retry");
            store
                .deliveries_failed(
                    sink.name(),
                    &ids,
                    now,
                    &error,
                    Some(now.offset(millis(wait))),
                )
                .await?;
            Ok(false)
        }
        Err(SinkError::Permanent(error)) => {
            tracing::error!(sink = %sink.name(), %error, "the sink refused the notification; it is kept and reported, not retried");
            store
                .deliveries_failed(sink.name(), &ids, now, &error, None)
                .await?;
            Ok(false)
        }
    }
}

/// Where the alert's canary was planted. A failure to read them is logged and the alert goes
/// out without them: the placements help the responder, but must never hold up the alert.
async fn placements_of(store: &Store, alert: &detect::Alert) -> Vec<notify::PlacementNote> {
    let Some(name) = alert.canary() else {
        return Vec::new();
    };
    let found = async {
        let Some(canary) = store.get_by_name(name).await? else {
            return Ok(Vec::new());
        };
        store.placements(&canary.id).await
    }
    .await;
    match found {
        Ok(placements) => placements
            .into_iter()
            .map(|placement| notify::PlacementNote {
                host: placement.host,
                path: placement.path,
                format: placement.format,
                user: placement.user,
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, canary = %name, "cannot read the canary's placements; the alert goes out without them");
            Vec::new()
        }
    }
}

/// The notification for one delivery, or a digest of several (the newest alert leads).
fn notification(
    settings: &DeliverySettings,
    deliveries: &[Delivery],
) -> Result<Notification, String> {
    let lead = deliveries.last().ok_or("nothing to deliver")?;
    let alert: detect::Alert = serde_json::from_str(&lead.alert.body).map_err(|e| {
        format!(
            "alert {} cannot be read back ({e}); it was stored by another version of tripkey",
            lead.alert.dedup_key
        )
    })?;
    let link = settings.link_base.as_ref().map(|base| {
        format!(
            "{}/alerts/{}",
            base.trim_end_matches('/'),
            percent_encode(&lead.alert.dedup_key)
        )
    });
    let digest = (deliveries.len() > 1).then(|| Digest {
        count: deliveries.len() as u64,
        first: deliveries
            .iter()
            .map(|d| d.alert.event_time)
            .min()
            .unwrap_or(lead.alert.event_time),
        last: deliveries
            .iter()
            .map(|d| d.alert.event_time)
            .max()
            .unwrap_or(lead.alert.event_time),
        summaries: deliveries
            .iter()
            .take(DIGEST_SUMMARIES)
            .map(|d| d.alert.summary.clone())
            .collect(),
        key: lead.limit_key.clone(),
        dedup_keys: deliveries
            .iter()
            .map(|d| d.alert.dedup_key.clone())
            .collect(),
    });
    Ok(Notification {
        alert,
        detected_at: lead.alert.detected_at,
        link,
        digest,
        placements: Vec::new(),
    })
}

/// Dedup keys hold ARNs and colons: encode all but unreserved characters for a URL path.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
