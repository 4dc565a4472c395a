//! `tripkey key decode`: what an attacker learns from a key ID without calling AWS.

use std::io::Write;

use keys::{AccessKeyId, AccountDecode};
use serde::Serialize;

use crate::output::{self, DataFormat};
use notify::escape::for_terminal;

/// What one key ID gives away.
#[derive(Serialize)]
struct Decoded {
    key_id: String,
    kind: &'static str,
    /// The 12-digit account, or `None` for a legacy key that carries none.
    account_id: Option<String>,
    known_canary_vendor: bool,
}

/// Prints the kind and account of each key ID. An ID that cannot be read is reported and the
/// rest are still decoded; the exit status is then 2.
pub fn decode(key_ids: &[String], format: DataFormat) -> anyhow::Result<u8> {
    let mut decoded = Vec::new();
    let mut failed = false;
    for text in key_ids {
        match AccessKeyId::parse(text.trim()) {
            Ok(key) => {
                let fingerprint = keys::fingerprint(&key);
                decoded.push(Decoded {
                    key_id: key.as_str().to_owned(),
                    kind: fingerprint.kind.description(),
                    account_id: match fingerprint.account {
                        AccountDecode::Account(account) => Some(account.to_string()),
                        AccountDecode::Legacy => None,
                    },
                    known_canary_vendor: fingerprint.known_canary_vendor,
                });
            }
            Err(error) => {
                failed = true;
                let upper = text.trim().to_ascii_uppercase();
                let hint = if upper != text.trim() && AccessKeyId::parse(&upper).is_ok() {
                    format!(
                        ": key IDs are upper case; did you mean {}?",
                        for_terminal(&upper)
                    )
                } else {
                    format!(": {error}")
                };
                eprintln!(
                    "error: {} is not an AWS key ID{hint}",
                    for_terminal(text.trim())
                );
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        DataFormat::Json => output::write_json(&mut out, &serde_json::json!({ "keys": decoded }))?,
        DataFormat::Table => {
            for key in &decoded {
                let account = match &key.account_id {
                    Some(account) => format!("account {account}"),
                    None => "legacy key: no account encoded".to_owned(),
                };
                let warning = if key.known_canary_vendor {
                    "  (a published canary-vendor account: attackers' tools flag this key as a canary)"
                } else {
                    ""
                };
                writeln!(out, "{}  {}  {account}{warning}", key.key_id, key.kind)?;
            }
        }
    }
    Ok(if failed { crate::EXIT_USAGE } else { 0 })
}
