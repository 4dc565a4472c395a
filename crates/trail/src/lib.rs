//! CloudTrail records and readers for every shape CloudTrail data arrives in.
//!
//! [`Record`] is a typed, borrowed view of one CloudTrail record that keeps the record's raw
//! JSON. The readers turn bytes (plain or gzip) in any supported shape into records.

pub mod record;
pub mod time;

pub use record::{Fields, Record, RequestParameters, SessionContext, SessionIssuer, UserIdentity};
pub use time::EventTime;
