//! The inventory as the detectors see it: every canary in the store, with every key it held.

use std::collections::HashMap;

use store::{CanaryId, CanaryKind, CanaryRecord, Store, StoreError};

/// The label that marks canaries of the offline issuer in every alert, so nobody mistakes a
/// demo key for a real one.
pub const OFFLINE_LABEL: (&str, &str) = ("issuer", "offline");

/// A stored canary as the detectors know it. `former_keys` are the long-term keys it held
/// before rotations; a use of any of them is a use of the canary.
pub fn detect_canary(record: &CanaryRecord, former_keys: Vec<String>) -> detect::Canary {
    let mut labels = record.labels.clone();
    if record.issuer.is_offline() {
        labels.insert(OFFLINE_LABEL.0.to_owned(), OFFLINE_LABEL.1.to_owned());
    }
    detect::Canary {
        name: record.name.clone(),
        access_key_id: Some(record.access_key_id.clone()),
        former_access_key_ids: former_keys,
        principal_arn: Some(record.principal_arn.clone()),
        user_name: (record.kind == CanaryKind::IamUser).then(|| record.name.clone()),
        account_id: Some(record.account_id.clone()),
        labels,
        memo: record.memo.clone(),
        revoked_at: record.revoked_at,
    }
}

/// Every canary in the store, revoked and expired ones included: logs from before a
/// revocation still show uses worth knowing about.
pub async fn watch_list(store: &Store) -> Result<Vec<detect::Canary>, StoreError> {
    let records = store.list(&store::CanaryFilter::default()).await?;
    let mut former: HashMap<CanaryId, Vec<String>> = HashMap::new();
    for key in store.all_keys().await? {
        former
            .entry(key.canary_id)
            .or_default()
            .push(key.access_key_id);
    }
    Ok(records
        .iter()
        .map(|record| {
            let keys = former
                .remove(&record.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|key| *key != record.access_key_id && record.kind == CanaryKind::IamUser)
                .collect();
            detect_canary(record, keys)
        })
        .collect())
}
