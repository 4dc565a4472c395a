//! `tripkey key decode`: what an attacker learns from a key ID without calling AWS.

use anyhow::Context;
use keys::{AccessKeyId, AccountDecode};

use notify::escape::for_terminal;

/// Prints the kind and account of each key ID; fails on the first invalid one.
pub fn decode(key_ids: &[String]) -> anyhow::Result<u8> {
    for text in key_ids {
        let key = AccessKeyId::parse(text.trim())
            .with_context(|| format!("{} is not an AWS key ID", for_terminal(text)))?;
        let fingerprint = keys::fingerprint(&key);
        let account = match fingerprint.account {
            AccountDecode::Account(account) => format!("account {account}"),
            AccountDecode::Legacy => "legacy key: no account encoded".to_owned(),
        };
        let warning = if fingerprint.known_canary_vendor {
            "  (a published canary-vendor account: attackers' tools flag this key as a canary)"
        } else {
            ""
        };
        println!(
            "{}  {}  {account}{warning}",
            key.as_str(),
            fingerprint.kind.description()
        );
    }
    Ok(0)
}
