//! The engine of `tripkey serve`, as Vector lays a pipeline out: sources hand over batches
//! (S3 objects, SQS messages, files, request bodies), one engine runs them through the
//! detectors in event-time order, and each batch's alerts are committed in one transaction
//! with the source's checkpoint and the detectors' state; the outbox then carries every new
//! alert to its sinks.
//!
//! Nothing is lost and nothing is sent twice: a checkpoint (or an SQS deletion) moves only
//! after its batch is committed, alerts are unique by dedup key, and deliveries are rows that
//! stay until a sink takes them, so a crash at any point means reading a batch again, never
//! alerting twice.

#![warn(missing_docs)]

pub mod budget;
pub mod delivery;
pub mod ingest;
pub mod metrics;
pub mod runner;
pub mod source;
pub mod suppressions;
pub mod workers;

pub use budget::{Held, MemoryBudget, DEFAULT_MEMORY_BUDGET};
pub use ingest::{
    default_worker_id, limit_key, Batch, Ingested, Ingestor, Item, Route, Settled,
    DEFAULT_MAX_ITEM_SIZE,
};
pub use metrics::{
    MemoryReport, Metrics, Report, SinkHealthReport, SourceStats, UnreadableCount, WorkerReport,
};
pub use runner::{spawn_engine, EngineHandle};
pub use source::{run_source, DirSource, Source, SourceBatch, SourceError};
pub use workers::{run_heartbeat, run_singleton, WorkerIdentity};

/// Why a batch could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed; the batch is read again.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The canaries in the store conflict with each other.
    #[error("the canary inventory is inconsistent: {0}")]
    Canaries(#[from] detect::RegistryError),
    /// The engine has stopped (shutdown).
    #[error("the engine has stopped")]
    Stopped,
}
