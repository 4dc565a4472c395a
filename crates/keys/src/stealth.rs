//! What an attacker can learn from a key ID without calling AWS.

use crate::account::{AccountDecode, AccountId};
use crate::id::{AccessKeyId, KeyKind};

/// Accounts known to belong to canary vendors, as published in TruffleHog's
/// `pkg/detectors/aws/access_keys/canary.go`.
///
/// Attackers check decoded key IDs against this list before touching a key, so a canary issued
/// from one of these accounts is recognised on sight; tripkey refuses to issue from them.
pub const CANARY_VENDOR_ACCOUNTS: &[AccountId] = &[
    AccountId::from_digits("052310077262"),
    AccountId::from_digits("171436882533"),
    AccountId::from_digits("534261010715"),
    AccountId::from_digits("595918472158"),
    AccountId::from_digits("717712589309"),
    AccountId::from_digits("819147034852"),
    AccountId::from_digits("992382622183"),
    AccountId::from_digits("730335385048"),
    AccountId::from_digits("266735846894"),
    AccountId::from_digits("893192397702"),
    AccountId::from_digits("044858866125"),
    AccountId::from_digits("251535659677"),
    AccountId::from_digits("344043088457"),
    AccountId::from_digits("351906852752"),
    AccountId::from_digits("390477818340"),
    AccountId::from_digits("426127672474"),
    AccountId::from_digits("427150556519"),
    AccountId::from_digits("439872796651"),
    AccountId::from_digits("445142720921"),
    AccountId::from_digits("465867158099"),
    AccountId::from_digits("637958123769"),
    AccountId::from_digits("693412236332"),
    AccountId::from_digits("732624840810"),
    AccountId::from_digits("735421457923"),
    AccountId::from_digits("959235150393"),
    AccountId::from_digits("982842642351"),
];

/// Whether `account` is on the published list of canary-vendor accounts.
pub fn is_known_canary_vendor_account(account: &AccountId) -> bool {
    CANARY_VENDOR_ACCOUNTS.contains(account)
}

/// Refuses `account` if it is a published canary vendor's, saying why.
///
/// Call it before issuing: a key from a listed account is recognised as a canary offline by
/// TruffleHog and the tools that copy its list, before the attacker ever uses it.
pub fn refuse_vendor_account(account: &AccountId) -> Result<(), StealthError> {
    if is_known_canary_vendor_account(account) {
        return Err(StealthError::VendorAccount { account: *account });
    }
    Ok(())
}

/// Why tripkey will not issue a canary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StealthError {
    /// The account is on the published list of canary-vendor accounts.
    #[error(
        "refusing to issue canaries from account {account}: it is on the published list of \
         canary-vendor accounts (TruffleHog's pkg/detectors/aws/access_keys/canary.go), so \
         anyone who decodes the account from a key ID, which needs no AWS call, knows the key \
         is a canary before using it; issue from an account of your own"
    )]
    VendorAccount {
        /// The refused account.
        account: AccountId,
    },
}

/// What an attacker concludes from a key ID alone, offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint {
    /// What the prefix says the ID belongs to.
    pub kind: KeyKind,
    /// The account the ID reveals, if it is modern.
    pub account: AccountDecode,
    /// Whether that account is a published canary vendor's: if so, the key is burnt.
    pub known_canary_vendor: bool,
}

/// Everything an attacker can read from `key_id` without calling AWS.
pub fn fingerprint(key_id: &AccessKeyId) -> KeyFingerprint {
    let account = key_id.account();
    KeyFingerprint {
        kind: key_id.kind(),
        account,
        known_canary_vendor: account
            .account()
            .is_some_and(|account| is_known_canary_vendor_account(&account)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_matches_the_published_count_and_has_no_duplicates() {
        let mut accounts = CANARY_VENDOR_ACCOUNTS.to_vec();
        accounts.sort();
        accounts.dedup();
        assert_eq!(accounts.len(), 26);
    }

    #[test]
    fn vendor_keys_are_recognised() {
        // Two of the design's test vectors decode to listed accounts.
        for id in ["AKIASP2TPHJSQH3FJRUX", "AKIAYVP4CIPPERUVIFXG"] {
            let id = AccessKeyId::parse(id).unwrap();
            let print = fingerprint(&id);
            assert_eq!(print.kind, KeyKind::LongTerm);
            assert!(print.known_canary_vendor, "{id}");
        }
    }

    #[test]
    fn other_keys_are_not() {
        let id = AccessKeyId::parse("ASIAY34FZKBOKMUTVV7A").unwrap();
        assert_eq!(
            fingerprint(&id),
            KeyFingerprint {
                kind: KeyKind::Temporary,
                account: AccountDecode::Account("609629065308".parse().unwrap()),
                known_canary_vendor: false,
            }
        );
        let legacy = AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap();
        assert_eq!(
            fingerprint(&legacy),
            KeyFingerprint {
                kind: KeyKind::LongTerm,
                account: AccountDecode::Legacy,
                known_canary_vendor: false,
            }
        );
    }

    #[test]
    fn vendor_accounts_are_refused_with_the_source_named() {
        let account: AccountId = "171436882533".parse().unwrap();
        let error = refuse_vendor_account(&account).unwrap_err();
        assert_eq!(error, StealthError::VendorAccount { account });
        let message = error.to_string();
        assert!(message.starts_with("refusing to issue canaries from account 171436882533"));
        assert!(message.contains("TruffleHog's pkg/detectors/aws/access_keys/canary.go"));
        assert_eq!(
            refuse_vendor_account(&"609629065308".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn lookup_is_by_account() {
        assert!(is_known_canary_vendor_account(
            &"044858866125".parse().unwrap()
        ));
        assert!(!is_known_canary_vendor_account(
            &"044858866126".parse().unwrap()
        ));
    }
}
