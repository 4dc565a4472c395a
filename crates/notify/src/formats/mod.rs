//! Payloads for the chat and paging services a team may use instead of Slack: one file each,
//! all drawn from the same facts, playbook and digest as the Slack and email formats
//! ([`crate::render`]), each escaped for its service's markup and cut to its limits after
//! escaping.

pub mod discord;
pub mod google_chat;
pub mod pagerduty;
pub mod teams;

use serde_json::Value;

/// Builds a payload with per-field limits divided by 1, 2, 4, … until its JSON fits in
/// `max_bytes`: a service refuses a whole message that is too large, and escaping makes the
/// size of hostile text hard to foresee.
fn fit(max_bytes: usize, build: impl Fn(usize) -> Value) -> Value {
    let mut divisor = 1;
    loop {
        let payload = build(divisor);
        let size = serde_json::to_vec(&payload).map_or(0, |bytes| bytes.len());
        if size <= max_bytes || divisor >= 256 {
            return payload;
        }
        divisor *= 2;
    }
}
