//! Telling the shape of CloudTrail data and walking it.
//!
//! A document is parsed in one pass: a `Records` array (or a bare array) is walked element by
//! element, each element captured as a borrowed `&RawValue` and turned into a [`Record`] as it
//! goes, so records before a truncation are delivered and a bad element costs only itself.
//! JSON lines are split first so that a bad line costs only that line.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Location, ReadProblem};
use crate::record::Record;

/// Problems listed per input; a damaged or foreign file could otherwise produce one per line.
const MAX_LISTED_PROBLEMS: usize = 1000;

/// How deep envelopes may nest (an S3 object on a line, an EventBridge event in a log
/// message). Each level restarts serde_json's own depth limit, so without this a crafted
/// input could exhaust the stack.
const MAX_ENVELOPE_DEPTH: u32 = 8;

pub(super) fn parse<'a>(
    bytes: &'a [u8],
    on_record: &mut dyn FnMut(u64, Record<'a>),
) -> Vec<ReadProblem> {
    let mut state = State::default();
    if bytes.starts_with(&super::gzip::MAGIC) {
        state.problem(
            Location::Input,
            "this is gzip data: decompress it first (trail::load does)",
        );
        return state.finish();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Parser {
            text,
            sink: on_record,
            state: &mut state,
        }
        .run(),
        Err(error) => {
            state.problem(
                Location::Byte(error.valid_up_to() as u64),
                "invalid UTF-8: bad bytes are replaced with U+FFFD, and byte positions past \
                 this point count the repaired text",
            );
            let repaired = String::from_utf8_lossy(bytes).into_owned();
            let mut owned = |index, record: Record<'_>| on_record(index, record.into_owned());
            Parser {
                text: &repaired,
                sink: &mut owned,
                state: &mut state,
            }
            .run();
        }
    }
    state.finish()
}

/// What parsers of one input share, including parsers of JSON nested in strings.
#[derive(Default)]
struct State {
    problems: Vec<ReadProblem>,
    unlisted_problems: u64,
    next_index: u64,
    delivered: u64,
    envelope_depth: u32,
}

impl State {
    fn problem(&mut self, location: Location, message: impl Into<String>) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(ReadProblem {
                location,
                message: message.into(),
            });
        } else {
            self.unlisted_problems += 1;
        }
    }

    fn finish(mut self) -> Vec<ReadProblem> {
        if self.unlisted_problems > 0 {
            self.problems.push(ReadProblem {
                location: Location::Input,
                message: format!(
                    "{} more problems are not listed; is this really CloudTrail data?",
                    self.unlisted_problems
                ),
            });
        }
        self.problems
    }
}

/// Where a value sits, which decides how its problems are located.
#[derive(Clone, Copy)]
enum Place {
    /// In a JSON document: problems name the record slot.
    Document,
    /// On a line of JSON lines: problems name the line.
    Line(u64),
}

struct Parser<'t, 's> {
    text: &'t str,
    sink: &'s mut dyn FnMut(u64, Record<'t>),
    state: &'s mut State,
}

impl<'t> Parser<'t, '_> {
    fn run(&mut self) {
        let body = self.text.strip_prefix('\u{feff}').unwrap_or(self.text);
        let trimmed = body.trim_start_matches(is_json_whitespace);
        let Some(&first) = trimmed.as_bytes().first() else {
            self.state.problem(Location::Input, "the input is empty");
            return;
        };
        let first_line = trimmed.split('\n').next().unwrap_or_default();
        let more_lines = !trimmed[first_line.len()..]
            .trim_start_matches(is_json_whitespace)
            .is_empty();
        let first_line = first_line.trim_end_matches(is_json_whitespace);
        match first {
            b'{' | b'[' => {
                // A document spans lines only when pretty-printed, and then its first line
                // cannot be a complete value; JSON lines are complete line by line.
                let closing = if first == b'{' { '}' } else { ']' };
                if more_lines && first_line.len() > 1 && first_line.ends_with(closing) {
                    self.lines(body);
                } else {
                    self.document(body);
                }
            }
            _ if json_start(first_line).is_some() => self.lines(body),
            _ => {
                let preview: String = first_line.chars().take(40).collect();
                self.state.problem(
                    Location::Input,
                    format!(
                        "not CloudTrail data: expected JSON ({{\"Records\":[...]}}, an array, \
                         an event object or JSON lines), but it starts with {preview:?}"
                    ),
                );
            }
        }
    }

    /// One or more concatenated JSON documents, parsed in one pass.
    fn document(&mut self, body: &'t str) {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        loop {
            let result = DocumentSeed { parser: &mut *self }.deserialize(&mut deserializer);
            if let Err(error) = result {
                let base = body.as_ptr() as usize - self.text.as_ptr() as usize;
                let (offset, what) = if error.is_eof() {
                    (
                        body.len(),
                        "the JSON ends in the middle of a value (truncated file?)".to_owned(),
                    )
                } else {
                    (
                        error_offset(body, &error),
                        format!("invalid JSON: {}", describe(&error)),
                    )
                };
                self.state.problem(
                    Location::Byte((base + offset) as u64),
                    format!(
                        "{what}; records read before this point: {}; anything after it is lost",
                        self.state.delivered
                    ),
                );
                return;
            }
            if deserializer.end().is_ok() {
                return;
            }
        }
    }

    /// JSON lines, each optionally after a timestamp (CloudWatch Logs exports).
    fn lines(&mut self, body: &'t str) {
        for (number, line) in (1u64..).zip(body.split('\n')) {
            let line = line.trim_matches(is_json_whitespace);
            if line.is_empty() {
                continue;
            }
            let Some(json) = json_start(line) else {
                self.state.problem(
                    Location::Line(number),
                    "not JSON: expected a JSON object, optionally after a timestamp; line \
                     skipped",
                );
                continue;
            };
            match serde_json::from_str::<&'t RawValue>(json) {
                Ok(raw) if raw.get().starts_with('[') => self.array(raw, Place::Line(number)),
                Ok(raw) => self.value(raw, Place::Line(number)),
                Err(error) => {
                    let column = json.as_ptr() as usize - line.as_ptr() as usize
                        + error_offset(json, &error)
                        + 1;
                    self.state.problem(
                        Location::Line(number),
                        format!(
                            "invalid JSON at column {column}: {}; line skipped",
                            describe(&error)
                        ),
                    );
                }
            }
        }
    }

    fn deliver(&mut self, record: Record<'t>) {
        let index = self.state.next_index;
        self.state.next_index += 1;
        self.state.delivered += 1;
        (self.sink)(index, record);
    }

    /// Skips a record slot that holds no readable record.
    fn reject(&mut self, place: Place, message: impl fmt::Display) {
        let index = self.state.next_index;
        self.state.next_index += 1;
        let location = match place {
            Place::Document => Location::Record(index),
            Place::Line(number) => Location::Line(number),
        };
        self.state
            .problem(location, format!("{message}; record skipped"));
    }

    /// A value on a line that is an array: each element is a record slot.
    fn array(&mut self, raw: &'t RawValue, place: Place) {
        match serde_json::from_str::<Vec<&'t RawValue>>(raw.get()) {
            Ok(elements) => {
                for element in elements {
                    self.value(element, place);
                }
            }
            Err(error) => self.reject(place, describe(&error)),
        }
    }

    /// A record, or an object that wraps records, whose extent is known.
    fn value(&mut self, raw: &'t RawValue, place: Place) {
        let text = raw.get();
        if !text.starts_with('{') {
            return self.reject(
                place,
                format!(
                    "expected a CloudTrail record (a JSON object), found {}",
                    json_kind(text)
                ),
            );
        }
        // S3 objects nested in arrays or lines: go straight to streaming their records.
        if first_key_is(text, "Records") {
            return self.object(text, place);
        }
        match Record::from_raw(raw) {
            Ok(record) => self.deliver(record),
            Err(record_error) => {
                let parts = match ObjectParts::read(self, text, place) {
                    Ok(parts) => parts,
                    Err(error) => return self.reject(place, describe(&error)),
                };
                if !self.envelope(&parts, place) {
                    self.reject(
                        place,
                        format!("not a CloudTrail record: {}", describe(&record_error)),
                    );
                }
            }
        }
    }

    /// An object known not to be a plain record: an S3 object or another envelope.
    fn object(&mut self, text: &'t str, place: Place) {
        match ObjectParts::read(self, text, place) {
            Ok(parts) => {
                if !self.envelope(&parts, place) {
                    self.reject(place, "an object without records");
                }
            }
            Err(error) => self.reject(place, describe(&error)),
        }
    }

    /// Handles the records an envelope holds. False when the object is no envelope.
    fn envelope(&mut self, parts: &ObjectParts<'t>, place: Place) -> bool {
        if parts.records {
            return true;
        }
        if let Some(detail_type) = parts.detail_type {
            self.eventbridge(detail_type, parts, place);
            return true;
        }
        if let Some(events) = parts.events {
            self.log_events(parts.message_type, events, place);
            return true;
        }
        false
    }

    fn eventbridge(&mut self, detail_type: &'t RawValue, parts: &ObjectParts<'t>, place: Place) {
        let detail_type: Cow<'t, str> = match serde_json::from_str(detail_type.get()) {
            Ok(detail_type) => detail_type,
            Err(_) => {
                return self.reject(place, "an EventBridge event whose detail-type is no string")
            }
        };
        // AWS's own findings about the account, such as a key it found in public.
        if detail_type == "AWS Health Event" {
            let event = self
                .object_text(parts)
                .ok_or_else(|| de::Error::custom("an empty object"))
                .and_then(serde_json::from_str::<&'t RawValue>)
                .and_then(Record::from_health_event);
            return match event {
                Ok(record) => self.deliver(record),
                Err(error) => self.reject(
                    place,
                    format!(
                        "an AWS Health event without its time or type: {}",
                        describe(&error)
                    ),
                ),
            };
        }
        let detail = parts.detail;
        // "AWS API Call via CloudTrail", and also console sign-ins and service events, which
        // are CloudTrail records too.
        if !detail_type.ends_with("via CloudTrail") {
            return self.reject(
                place,
                format!("an EventBridge event of type {detail_type:?} holds no CloudTrail record"),
            );
        }
        let Some(detail) = detail else {
            return self.reject(place, "an EventBridge event without \"detail\"");
        };
        match Record::from_raw(detail) {
            Ok(record) => self.deliver(record),
            Err(error) => self.reject(
                place,
                format!(
                    "the detail of an EventBridge event is not a CloudTrail record: {}",
                    describe(&error)
                ),
            ),
        }
    }

    /// `logEvents` of a CloudWatch Logs subscription payload, `events` of `aws logs
    /// filter-log-events`, `Events` of `aws cloudtrail lookup-events`.
    fn log_events(
        &mut self,
        message_type: Option<&'t RawValue>,
        events: &'t RawValue,
        place: Place,
    ) {
        if let Some(message_type) = message_type {
            match serde_json::from_str::<Cow<'t, str>>(message_type.get()).as_deref() {
                Ok("DATA_MESSAGE") => {}
                // Sent when a subscription is set up, to check the destination: no log data.
                Ok("CONTROL_MESSAGE") => return,
                _ => {
                    return self.reject(
                        place,
                        format!(
                            "a CloudWatch Logs payload of unknown messageType {}",
                            message_type.get()
                        ),
                    )
                }
            }
        }
        let events = match serde_json::from_str::<Vec<&'t RawValue>>(events.get()) {
            Ok(events) => events,
            Err(error) => {
                return self.reject(
                    place,
                    format!("log events are not an array: {}", describe(&error)),
                )
            }
        };
        for event in events {
            match serde_json::from_str::<LogEvent<'t>>(event.get()) {
                Ok(LogEvent {
                    message: Some(message),
                }) => self.message(message.into_owned(), place),
                Ok(LogEvent { message: None }) => {
                    self.reject(place, "a log event without a message")
                }
                Err(error) => self.reject(
                    place,
                    format!("a log event is not an object: {}", describe(&error)),
                ),
            }
        }
    }

    /// A record (or EventBridge event) serialised into a string by CloudWatch Logs.
    fn message(&mut self, message: String, place: Place) {
        // The common case, a CloudTrail record, parses straight from the owned string; only
        // EventBridge events (sent to a log group by a rule) need the general path.
        if !message.contains("\"detail-type\"") {
            return match Record::from_owned_json(message) {
                Ok(record) => self.deliver(record),
                Err(error) => self.reject(
                    place,
                    format!(
                        "a log message is not a CloudTrail record: {}",
                        describe(&error)
                    ),
                ),
            };
        }
        let sink = &mut *self.sink;
        let mut owned = |index, record: Record<'_>| sink(index, record.into_owned());
        let mut nested = Parser {
            text: &message,
            sink: &mut owned,
            state: &mut *self.state,
        };
        match serde_json::from_str::<&RawValue>(&message) {
            Ok(raw) => nested.value(raw, place),
            Err(error) => nested.reject(
                place,
                format!("a log message is not JSON: {}", describe(&error)),
            ),
        }
    }

    /// The text of an object read into `parts`, recovered from where its first key and last
    /// value lie; `None` for an empty object (or one holding `Records`, whose last value is
    /// not kept).
    fn object_text(&self, parts: &ObjectParts<'t>) -> Option<&'t str> {
        let (first_key, last_value) = (parts.first_key?, parts.last_value?);
        let start = self.offset_of(first_key.get());
        let end = self.offset_of(last_value.get()) + last_value.get().len();
        // Only whitespace can sit between `{` and the first key, and between the last value
        // and `}`.
        let open = self.text[..start]
            .trim_end_matches(is_json_whitespace)
            .len()
            - 1;
        let close = end + (self.text.len() - end)
            - self.text[end..]
                .trim_start_matches(is_json_whitespace)
                .len();
        Some(&self.text[open..=close])
    }

    /// A top-level object of a document that is no envelope: a single record.
    fn bare_object(&mut self, parts: &ObjectParts<'t>) {
        let Some(text) = self.object_text(parts) else {
            return self.reject(
                Place::Document,
                "an empty object is not a CloudTrail record",
            );
        };
        let record = serde_json::from_str::<&'t RawValue>(text).and_then(Record::from_raw);
        match record {
            Ok(record) => self.deliver(record),
            Err(error) => self.reject(
                Place::Document,
                format!("not a CloudTrail record: {}", describe(&error)),
            ),
        }
    }

    /// Where a string borrowed from the text starts in it.
    fn offset_of(&self, part: &str) -> usize {
        let offset = part.as_ptr() as usize - self.text.as_ptr() as usize;
        debug_assert!(offset + part.len() <= self.text.len());
        offset
    }
}

/// The members of an object that tell what it wraps. A `Records` array is streamed to the
/// parser while the object is read; everything else is captured raw.
#[derive(Default)]
struct ObjectParts<'t> {
    records: bool,
    detail_type: Option<&'t RawValue>,
    detail: Option<&'t RawValue>,
    message_type: Option<&'t RawValue>,
    events: Option<&'t RawValue>,
    first_key: Option<&'t RawValue>,
    last_value: Option<&'t RawValue>,
}

impl<'t> ObjectParts<'t> {
    fn read(
        parser: &mut Parser<'t, '_>,
        text: &'t str,
        place: Place,
    ) -> Result<ObjectParts<'t>, serde_json::Error> {
        if parser.state.envelope_depth >= MAX_ENVELOPE_DEPTH {
            return Err(de::Error::custom(format_args!(
                "envelopes nested more than {MAX_ENVELOPE_DEPTH} deep"
            )));
        }
        parser.state.envelope_depth += 1;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parts = ObjectVisitor {
            parser: &mut *parser,
            place,
        }
        .deserialize(&mut deserializer)
        .and_then(|parts| deserializer.end().map(|()| parts));
        parser.state.envelope_depth -= 1;
        parts
    }
}

struct ObjectVisitor<'p, 't, 's> {
    parser: &'p mut Parser<'t, 's>,
    place: Place,
}

impl<'t> DeserializeSeed<'t> for ObjectVisitor<'_, 't, '_> {
    type Value = ObjectParts<'t>;
    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'t> Visitor<'t> for ObjectVisitor<'_, 't, '_> {
    type Value = ObjectParts<'t>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'t>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut parts = ObjectParts::default();
        // Keys are read raw so that their position in the text is known.
        while let Some(key) = map.next_key::<&'t RawValue>()? {
            parts.first_key.get_or_insert(key);
            let name = key_name(key);
            if name == "Records" {
                map.next_value_seed(RecordsSeed {
                    parser: &mut *self.parser,
                    place: self.place,
                })?;
                parts.records = true;
                parts.last_value = None;
                continue;
            }
            let value: &'t RawValue = map.next_value()?;
            parts.last_value = Some(value);
            match &*name {
                "detail-type" => parts.detail_type = Some(value),
                "detail" => parts.detail = Some(value),
                "messageType" => parts.message_type = Some(value),
                "logEvents" | "events" | "Events" => parts.events = Some(value),
                _ => {}
            }
        }
        Ok(parts)
    }
}

/// The elements of a `Records` array (or of a bare top-level array), each a record slot.
struct RecordsSeed<'p, 't, 's> {
    parser: &'p mut Parser<'t, 's>,
    place: Place,
}

impl<'t> DeserializeSeed<'t> for RecordsSeed<'_, 't, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'t> Visitor<'t> for RecordsSeed<'_, 't, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<S: SeqAccess<'t>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(raw) = seq.next_element::<&'t RawValue>()? {
            self.parser.value(raw, self.place);
        }
        Ok(())
    }
}

/// One top-level value of a document.
struct DocumentSeed<'p, 't, 's> {
    parser: &'p mut Parser<'t, 's>,
}

impl<'t> DeserializeSeed<'t> for DocumentSeed<'_, 't, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'t>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'t> Visitor<'t> for DocumentSeed<'_, 't, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CloudTrail data (an object or an array)")
    }

    fn visit_seq<S: SeqAccess<'t>>(self, seq: S) -> Result<(), S::Error> {
        RecordsSeed {
            parser: self.parser,
            place: Place::Document,
        }
        .visit_seq(seq)
    }

    fn visit_map<M: MapAccess<'t>>(self, map: M) -> Result<(), M::Error> {
        let parts = ObjectVisitor {
            parser: &mut *self.parser,
            place: Place::Document,
        }
        .visit_map(map)?;
        if !self.parser.envelope(&parts, Place::Document) {
            self.parser.bare_object(&parts);
        }
        Ok(())
    }
}

/// A CloudWatch Logs event (`message`) or a CloudTrail lookup-events result
/// (`CloudTrailEvent`): either way, a record serialised into a string.
#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow, default, alias = "CloudTrailEvent")]
    message: Option<Cow<'a, str>>,
}

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The JSON on a line: the line itself, or what follows a leading timestamp.
fn json_start(line: &str) -> Option<&str> {
    if line.starts_with(['{', '[']) {
        return Some(line);
    }
    let (_, rest) = line.split_once([' ', '\t'])?;
    let rest = rest.trim_start_matches(is_json_whitespace);
    rest.starts_with('{').then_some(rest)
}

/// Whether the first key of the object in `text` is `key` (written without escapes).
fn first_key_is(text: &str, key: &str) -> bool {
    text.strip_prefix('{')
        .map(|rest| rest.trim_start_matches(is_json_whitespace))
        .and_then(|rest| rest.strip_prefix('"'))
        .and_then(|rest| rest.strip_prefix(key))
        .is_some_and(|rest| rest.starts_with('"'))
}

/// The name of a raw object key, unescaped only when it has escapes.
fn key_name(raw: &RawValue) -> Cow<'_, str> {
    let quoted = raw.get();
    if quoted.contains('\\') {
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(quoted))
    } else {
        Cow::Borrowed(&quoted[1..quoted.len() - 1])
    }
}

fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

/// The message of a serde_json error without its "at line L column C" suffix (the caller
/// states the position in terms of the input).
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The byte offset in `text` of a serde_json error, from its line and column.
fn error_offset(text: &str, error: &serde_json::Error) -> usize {
    let line_start = match error.line() {
        0 | 1 => 0,
        line => text
            .match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(newline, _)| newline + 1),
    };
    // serde_json's column is 1-based for the byte it peeked at, which is where the fault is.
    (line_start + error.column().saturating_sub(1)).min(text.len())
}
