//! AWS access key formats: what a key ID reveals, and minting format-valid keys.
//!
//! Attackers who find a key decode its account offline and compare it with published lists of
//! canary-vendor accounts before they use it. This crate does the same decoding, so tripkey can
//! check its canaries the way an attacker would ([`fingerprint`]), and mints format-valid keys
//! for a chosen account for tests and the offline issuer ([`mint_access_key_id`],
//! [`mint_secret_access_key`]).
//!
//! It also keeps canaries from looking like canaries: [`generate_name`] and [`NameTemplate`]
//! make plausible service- and person-style names, [`check_name`] runs the name heuristics
//! attackers' tools use, [`refuse_vendor_account`] keeps canaries out of published vendor
//! accounts, and [`canary_check`] puts it all together into what an attacker would conclude.
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
mod check;
mod heuristics;
mod id;
mod naming;
mod secret;
mod stealth;
mod words;

pub use account::{AccountDecode, AccountId, AccountIdError};
pub use check::{canary_check, CanaryFacts, Check, CheckReport, CheckSubject, Outcome};
pub use heuristics::{
    check_name, shannon_entropy, NameFinding, SuspiciousTerm, ENTROPY_THRESHOLD, SUSPICIOUS_TERMS,
};
pub use id::{decode_account, mint_access_key_id, AccessKeyId, KeyError, KeyKind};
pub use naming::{
    generate_name, profile_name, validate_name, CanaryName, NameStyle, NameTemplate, RenderError,
    TemplateError, MAX_NAME_LEN, MIN_NAME_LEN,
};
pub use secret::{looks_like_secret_access_key, mint_secret_access_key};
pub use stealth::{
    fingerprint, is_known_canary_vendor_account, refuse_vendor_account, KeyFingerprint,
    StealthError, CANARY_VENDOR_ACCOUNTS,
};
