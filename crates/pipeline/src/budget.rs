//! The memory budget: how many bytes of input the sources and `POST /ingest` may hold at once
//! before the engine has used them.
//!
//! Every item read into memory (an S3 object, an SQS message, a file, a request body) holds
//! its size in the budget from the moment it is read until its batch is committed. Past the
//! budget a source waits for the engine to catch up, and `/ingest` answers 503 at once, so the
//! heap never grows with the input: memory is bounded by the budget plus the one item the
//! engine decompresses at a time (at most [`crate::DEFAULT_MAX_ITEM_SIZE`] by default).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in units of this many bytes, so that a `u32` of permits covers
/// terabytes.
const UNIT: u64 = 1024;

/// The default budget: 256 MiB of input in flight.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 * 1024 * 1024;

/// A budget of bytes in flight, shared by every source and the ingest handler. Cloning it is
/// cheap; the clones share the budget.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total_units: u32,
}

/// Bytes held in a [`MemoryBudget`], given back when dropped (when the batch carrying them
/// is done with).
#[derive(Debug, Default)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    /// Adds what `other` holds to this, to be given back together.
    pub fn merge(&mut self, other: Held) {
        match (&mut self.permit, other.permit) {
            (Some(permit), Some(more)) => permit.merge(more),
            (None, more) => self.permit = more,
            (Some(_), None) => {}
        }
    }

    /// The bytes held (rounded up to whole units).
    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |permit| permit.num_permits() as u64 * UNIT)
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            units: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
        }
    }

    /// The whole budget, in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total_units) * UNIT
    }

    /// The bytes held now.
    pub fn in_use(&self) -> u64 {
        (u64::from(self.total_units) - self.units.available_permits() as u64) * UNIT
    }

    /// Holds `bytes`, waiting until they are free. An item larger than the whole budget holds
    /// all of it, so it is read alone rather than never.
    pub async fn hold(&self, bytes: u64) -> Held {
        let mut held = Held::default();
        self.hold_also(&mut held, bytes).await;
        held
    }

    /// Holds `bytes` more for a batch that already holds `held`, waiting until they are free,
    /// and adds them to it. A batch never holds more than the whole budget: what it would
    /// hold past that it reads without holding, since waiting for bytes only it holds would
    /// wait forever.
    pub async fn hold_also(&self, held: &mut Held, bytes: u64) {
        let held_units = u32::try_from(held.bytes() / UNIT).unwrap_or(u32::MAX);
        let units = self
            .units_for(bytes)
            .min(self.total_units.saturating_sub(held_units));
        if units == 0 {
            return;
        }
        let permit = self
            .units
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        held.merge(Held {
            permit: Some(permit),
        });
    }

    /// Holds `bytes` if they are free now; `None` when the budget is spent.
    pub fn try_hold(&self, bytes: u64) -> Option<Held> {
        self.units
            .clone()
            .try_acquire_many_owned(self.units_for(bytes))
            .ok()
            .map(|permit| Held {
                permit: Some(permit),
            })
    }

    fn units_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.total_units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_bytes_come_back_when_dropped() {
        let budget = MemoryBudget::new(10 * UNIT);
        let first = budget.try_hold(6 * UNIT).unwrap();
        assert_eq!(budget.in_use(), 6 * UNIT);
        assert!(budget.try_hold(5 * UNIT).is_none(), "only 4 units are left");
        let mut second = budget.try_hold(3 * UNIT + 1).unwrap();
        assert_eq!(second.bytes(), 4 * UNIT, "rounded up to whole units");
        second.merge(first);
        assert_eq!(second.bytes(), 10 * UNIT);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_waiting_holder_goes_on_once_bytes_are_given_back() {
        let budget = MemoryBudget::new(4 * UNIT);
        let first = budget.hold(4 * UNIT).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.hold(2 * UNIT).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        assert_eq!(waiting.await.unwrap(), 2 * UNIT);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_budget_does_not_wait_for_itself() {
        let budget = MemoryBudget::new(4 * UNIT);
        let mut held = Held::default();
        budget.hold_also(&mut held, 3 * UNIT).await;
        budget.hold_also(&mut held, 3 * UNIT).await;
        budget.hold_also(&mut held, 3 * UNIT).await;
        assert_eq!(held.bytes(), 4 * UNIT, "capped at the whole budget");
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn an_item_larger_than_the_budget_holds_all_of_it() {
        let budget = MemoryBudget::new(4 * UNIT);
        let held = budget.hold(100 * UNIT).await;
        assert_eq!(held.bytes(), 4 * UNIT);
        assert!(budget.try_hold(1).is_none());
    }
}
