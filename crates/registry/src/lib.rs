//! Issuing canaries and managing their life.
//!
//! The service layer between the CLI (and later the HTTP API) and the pieces it joins: an
//! [`Issuer`] that makes credentials (AWS, or offline for demos and tests), the
//! [`store::Store`] that remembers them, and the stealth rules of the `keys` crate. Handlers
//! stay thin: every rule about capacity, naming, refusal, rotation, renewal and the last-used
//! safety net lives here.

#![warn(missing_docs)]

pub mod access;
pub mod inventory;
pub mod issuer;
pub mod last_used;
pub mod lifecycle;
pub mod offline;
pub mod response;
pub mod service;
pub mod shared;
pub mod watch;

pub use access::{Principal, Scope};
pub use inventory::{
    AccountCapacity, CanaryCheck, CanaryDetail, CheckLine, IntegrityReport, Inventory,
};
pub use issuer::{
    IssueError, IssueRequest, Issued, Issuer, KeyUse, ReportedKey, UsageLookup, UserUsage,
};
pub use last_used::{Poll, Trip, DEFAULT_REPORT_ABOVE};
pub use lifecycle::{Maintenance, Replaced};
pub use offline::OfflineIssuer;
pub use response::{response_figures, Durations, ResponseFigures};
pub use service::{
    AfterTrigger, CanaryService, CreateRequest, Created, Revocation, ServiceError, Settings,
};
pub use shared::{IssuerSet, SharedIssuer};
pub use watch::{detect_canary, watch_list};
