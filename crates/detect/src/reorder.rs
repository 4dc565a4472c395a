//! Puts records back in event-time order before the stateful detectors see them.
//!
//! CloudTrail delivers files out of order and records within a file are not sorted. The
//! buffer holds items until the newest event time seen is more than the window past them, then
//! releases them oldest first. Ties keep arrival order, so the output is deterministic for a
//! given input order. An item older than something already released (later than the window
//! allows) is released at once and counted as late.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use trail::EventTime;

use crate::config::Span;

struct Entry<T> {
    time: EventTime,
    sequence: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.sequence).cmp(&(other.time, other.sequence))
    }
}

/// A min-heap on event time that releases items once they are older than the window.
pub struct ReorderBuffer<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    window: Span,
    newest: Option<EventTime>,
    released_up_to: Option<EventTime>,
    next_sequence: u64,
    late: u64,
}

impl<T> ReorderBuffer<T> {
    /// An empty buffer with the given reorder window.
    pub fn new(window: Span) -> ReorderBuffer<T> {
        ReorderBuffer {
            heap: BinaryHeap::new(),
            window,
            newest: None,
            released_up_to: None,
            next_sequence: 0,
            late: 0,
        }
    }

    /// Adds an item with its event time.
    pub fn push(&mut self, time: EventTime, item: T) {
        if self.released_up_to.is_some_and(|released| time < released) {
            self.late += 1;
        }
        self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Reverse(Entry {
            time,
            sequence,
            item,
        }));
    }

    /// Notes that the input has reached `time` without adding an item (for example a file whose
    /// records were all irrelevant), so that older items can be released.
    pub fn observe(&mut self, time: EventTime) {
        self.newest = Some(self.newest.map_or(time, |newest| newest.max(time)));
    }

    /// The oldest item that is ready: more than the window older than the newest time seen.
    pub fn pop_ready(&mut self) -> Option<(EventTime, T)> {
        let watermark = self.newest?.offset(-self.window.millis());
        if self.heap.peek()?.0.time > watermark {
            return None;
        }
        self.pop()
    }

    /// The oldest item regardless of the window (for draining at the end of input).
    pub fn pop(&mut self) -> Option<(EventTime, T)> {
        let Reverse(entry) = self.heap.pop()?;
        self.released_up_to = Some(
            self.released_up_to
                .map_or(entry.time, |released| released.max(entry.time)),
        );
        Some((entry.time, entry.item))
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no item is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Items that arrived after something newer had already been released.
    pub fn late(&self) -> u64 {
        self.late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_event_time_order_once_past_the_window() {
        let mut buffer = ReorderBuffer::new(Span::minutes(20));
        let minute = |m: i64| EventTime(m * 60_000);
        buffer.push(minute(10), "b");
        buffer.push(minute(5), "a");
        buffer.push(minute(10), "c");
        assert!(
            buffer.pop_ready().is_none(),
            "nothing is 20 minutes old yet"
        );
        buffer.push(minute(30), "d");
        assert_eq!(buffer.pop_ready(), Some((minute(5), "a")));
        assert_eq!(buffer.pop_ready(), Some((minute(10), "b")));
        assert_eq!(buffer.pop_ready(), Some((minute(10), "c")));
        assert_eq!(buffer.pop_ready(), None);
        buffer.push(minute(1), "late");
        assert_eq!(buffer.late(), 1);
        assert_eq!(buffer.pop_ready(), Some((minute(1), "late")));
        assert_eq!(buffer.pop(), Some((minute(30), "d")));
        assert!(buffer.is_empty());
    }
}
