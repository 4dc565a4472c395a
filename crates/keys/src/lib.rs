//! AWS access key formats: what a key ID reveals, and minting format-valid keys.
//!
//! Attackers who find a key decode its account offline and compare it with published lists of
//! canary-vendor accounts before they use it. This crate does the same decoding, so tripkey can
//! check its canaries the way an attacker would ([`fingerprint`]), and mints format-valid keys
//! for a chosen account for tests and the offline issuer ([`mint_access_key_id`],
//! [`mint_secret_access_key`]).
//!
//! ```
//! use keys::{AccessKeyId, AccountDecode, fingerprint};
//!
//! let id: AccessKeyId = "AKIASP2TPHJSQH3FJRUX".parse()?;
//! let print = fingerprint(&id);
//! assert_eq!(print.account.account().unwrap().to_string(), "171436882533");
//! assert!(print.known_canary_vendor);
//! assert_eq!(keys::decode_account("AKIAIOSFODNN7EXAMPLE")?, AccountDecode::Legacy);
//! # Ok::<(), keys::KeyError>(())
//! ```

#![warn(missing_docs)]

mod account;
mod id;
mod secret;
mod stealth;

pub use account::{AccountDecode, AccountId, AccountIdError};
pub use id::{decode_account, mint_access_key_id, AccessKeyId, KeyError, KeyKind};
pub use secret::{looks_like_secret_access_key, mint_secret_access_key};
pub use stealth::{
    fingerprint, is_known_canary_vendor_account, KeyFingerprint, CANARY_VENDOR_ACCOUNTS,
};
