//! Bytes to records: loading an input (gunzipping it when needed) and parsing whatever shape
//! of CloudTrail data it holds.
//!
//! Both steps salvage what they can: a truncated gzip yields the bytes before the cut, a
//! truncated document yields the records before the cut, and a bad record or line is skipped.
//! Each loss is reported as a [`ReadProblem`] saying where it happened.

mod gzip;
mod shapes;

use std::fmt;
use std::fs;
use std::io::{self, Read};

use crate::input::{Input, InputSource};
use crate::record::Record;

/// An input's bytes, decompressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The decompressed bytes (the bytes as read when the input is not gzip).
    pub bytes: Vec<u8>,
    /// How many bytes were read from the source (before decompression).
    pub compressed_len: u64,
    /// Damage found while decompressing; `bytes` then holds what could be recovered.
    pub problems: Vec<ReadProblem>,
}

/// Something in an input that could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    /// Where in the input.
    pub location: Location,
    /// What went wrong and what was lost, for a person to read.
    pub message: String,
}

/// Where a [`ReadProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The input as a whole.
    Input,
    /// A byte offset from the start (0-based). For gzip damage it counts compressed bytes;
    /// otherwise decompressed ones.
    Byte(u64),
    /// A line of a JSON lines input (1-based, as editors count).
    Line(u64),
    /// A record slot in a document (0-based, as in `Records[7]`), the same index the record
    /// would have been delivered with.
    Record(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Input => f.write_str("input"),
            Location::Byte(offset) => write!(f, "byte {offset}"),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Record(index) => write!(f, "record {index}"),
        }
    }
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Reads a whole input into memory, gunzipping it when it starts with the gzip magic bytes
/// (whatever its name; several concatenated gzip members are read as one stream).
///
/// Corrupt or truncated gzip data yields the bytes that could be recovered plus a
/// [`ReadProblem`]; a file that cannot be opened or read is an error (which does not repeat
/// the file's name: callers show [`Input::name`] beside it).
pub fn load(input: &Input) -> Result<Loaded, io::Error> {
    match &input.source {
        InputSource::File(path) => Ok(decode(fs::read(path)?, u64::MAX)),
        InputSource::Stdin => load_reader(io::stdin().lock()),
    }
}

/// Like [`load`], for any reader (standard input, tests).
pub fn load_reader(reader: impl Read) -> Result<Loaded, io::Error> {
    load_reader_within(reader, u64::MAX)
}

/// Like [`load_reader`], decompressing at most `max_decompressed` bytes: for input from the
/// network, where a small gzip bomb could otherwise expand a thousandfold in memory. What is
/// past the limit is dropped and reported as a [`ReadProblem`].
pub fn load_reader_within(
    mut reader: impl Read,
    max_decompressed: u64,
) -> Result<Loaded, io::Error> {
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    Ok(decode(raw, max_decompressed))
}

/// Like [`load_reader_within`], for bytes already in memory (an object fetched over the
/// network).
pub fn load_bytes_within(raw: Vec<u8>, max_decompressed: u64) -> Loaded {
    decode(raw, max_decompressed)
}

fn decode(raw: Vec<u8>, max_decompressed: u64) -> Loaded {
    let compressed_len = raw.len() as u64;
    if raw.starts_with(&gzip::MAGIC) {
        let mut problems = Vec::new();
        let bytes = gzip::gunzip(&raw, max_decompressed, &mut problems);
        Loaded {
            bytes,
            compressed_len,
            problems,
        }
    } else {
        Loaded {
            bytes: raw,
            compressed_len,
            problems: Vec::new(),
        }
    }
}

/// Parses decompressed bytes in any shape CloudTrail data comes in, and calls `on_record` for
/// every record, in input order, with its index in the input (0-based; a record slot that
/// could not be read keeps its index, so indexes match [`Location::Record`]).
///
/// The shape is told from the first bytes, not by trying parsers in turn:
/// - `{"Records":[...]}`, the S3 object shape, and any other JSON document or documents
///   (concatenated, pretty-printed or not): a bare array of records, a single record, an
///   EventBridge event (`detail-type` "… via CloudTrail": the record is `detail`, and so is its
///   raw JSON), an array of those, a CloudWatch Logs subscription payload (`logEvents`; a
///   `CONTROL_MESSAGE` yields nothing), `aws logs filter-log-events` output (`events`) or
///   `aws cloudtrail lookup-events` output (`Events`), whose record JSON sits in strings;
/// - JSON lines: one value per line, any of the above (Logstash's `@timestamp` standing in for
///   `eventTime`), optionally after a timestamp as in CloudWatch Logs exports.
///
/// Problems come back with their location; parsing goes on past them where it can: a
/// truncated or broken document yields every record before the damage, a record of the wrong
/// shape is skipped, and a bad line is skipped and the next one read. Invalid UTF-8 is
/// replaced with U+FFFD (and reported), at the cost of copying the records.
pub fn parse_records<'a>(
    bytes: &'a [u8],
    mut on_record: impl FnMut(u64, Record<'a>),
) -> Vec<ReadProblem> {
    shapes::parse(bytes, &mut on_record)
}

#[cfg(test)]
mod tests;
