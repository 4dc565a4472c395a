//! CloudTrail records and readers for every shape CloudTrail data arrives in.
//!
//! [`Record`] is a typed, borrowed view of one CloudTrail record that keeps the record's raw
//! JSON. [`discover`] finds the inputs (files, directories, standard input), [`load`] reads
//! one into memory (gunzipping it), and [`parse_records`] turns its bytes, in any supported
//! shape, into records. [`TrailObjectKey`] reads CloudTrail's S3 key layout.

#![warn(missing_docs)]

pub mod input;
pub mod read;
pub mod record;
pub mod s3key;
pub mod time;
pub mod window;

pub use input::{
    discover, discover_within, holds_no_records, kind_of_key, DiscoverError, Discovery, Input,
    InputSource, KeyKind,
};
pub use read::{
    load, load_bytes_within, load_reader, load_reader_within, parse_records, Loaded, Location,
    ReadProblem,
};
pub use record::{
    Fields, Record, RequestParameters, SessionContext, SessionIssuer, UserIdentity,
    HEALTH_EVENT_SOURCE,
};
pub use s3key::TrailObjectKey;
pub use time::EventTime;
pub use window::{KeyRange, ScanWindow};
