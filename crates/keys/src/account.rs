//! AWS account IDs and what a key ID says about its account.

use std::fmt;
use std::str::FromStr;

/// A 12-digit AWS account ID.
///
/// Held as a number so that comparisons and hashing are cheap, and always shown with its leading
/// zeros: `052310077262` and `52310077262` are the same account, but only the first is how AWS
/// (and every published list) writes it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(u64);

impl AccountId {
    /// The largest account number that fits in 12 digits.
    pub const MAX: u64 = 999_999_999_999;

    /// The account with number `value`, if it fits in 12 digits.
    pub const fn new(value: u64) -> Result<AccountId, AccountIdError> {
        if value > Self::MAX {
            return Err(AccountIdError::OutOfRange { value });
        }
        Ok(AccountId(value))
    }

    /// The account number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Reads a 12-digit literal at compile time, so that a list of accounts can be written the
    /// way it is published (with leading zeros) and a typo in it fails the build.
    pub(crate) const fn from_digits(digits: &str) -> AccountId {
        let bytes = digits.as_bytes();
        assert!(bytes.len() == 12, "an account ID has exactly 12 digits");
        let mut value = 0;
        let mut i = 0;
        while i < bytes.len() {
            assert!(bytes[i].is_ascii_digit(), "an account ID has only digits");
            value = value * 10 + (bytes[i] - b'0') as u64;
            i += 1;
        }
        AccountId(value)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AccountId")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl FromStr for AccountId {
    type Err = AccountIdError;

    /// Accepts exactly 12 ASCII digits, leading zeros included: a shorter number is more likely
    /// a truncated or mistyped ID than a deliberate one.
    fn from_str(text: &str) -> Result<AccountId, AccountIdError> {
        let mut value = 0;
        let mut found = 0;
        for (index, c) in text.chars().enumerate() {
            let Some(digit) = c.to_digit(10) else {
                return Err(AccountIdError::NotDigit { index, found: c });
            };
            value = value * 10 + u64::from(digit);
            found += 1;
            // Stop before the arithmetic can overflow on absurdly long input.
            if found > 12 {
                return Err(AccountIdError::Length {
                    found: text.chars().count(),
                });
            }
        }
        if found != 12 {
            return Err(AccountIdError::Length { found });
        }
        Ok(AccountId(value))
    }
}

/// Why text or a number is not an account ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountIdError {
    /// The text does not have exactly 12 characters.
    #[error("account ID has {found} characters; expected exactly 12 digits")]
    Length {
        /// How many characters the text has.
        found: usize,
    },
    /// A character is not an ASCII digit.
    #[error("account ID has {found:?} at index {index}; expected only the digits 0-9")]
    NotDigit {
        /// Where the character is, counted in characters from 0.
        index: usize,
        /// The offending character.
        found: char,
    },
    /// The number has more than 12 digits.
    #[error("account number {value} has more than 12 digits")]
    OutOfRange {
        /// The number given.
        value: u64,
    },
}

/// What the body of a key ID says about the account that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountDecode {
    /// A modern ID: the account is encoded in it and anyone can read it offline.
    Account(AccountId),
    /// A legacy ID, issued before AWS began encoding the account: it reveals nothing.
    Legacy,
}

impl AccountDecode {
    /// The encoded account, if there is one.
    pub fn account(self) -> Option<AccountId> {
        match self {
            AccountDecode::Account(account) => Some(account),
            AccountDecode::Legacy => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_leading_zeros() {
        let account = AccountId::new(52_310_077_262).unwrap();
        assert_eq!(account.to_string(), "052310077262");
        assert_eq!(format!("{account:?}"), "AccountId(052310077262)");
        assert_eq!(AccountId::new(0).unwrap().to_string(), "000000000000");
    }

    #[test]
    fn parses_twelve_digits() {
        let account: AccountId = "052310077262".parse().unwrap();
        assert_eq!(account.get(), 52_310_077_262);
        let max: AccountId = "999999999999".parse().unwrap();
        assert_eq!(max.get(), AccountId::MAX);
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert_eq!(
            "".parse::<AccountId>(),
            Err(AccountIdError::Length { found: 0 })
        );
        assert_eq!(
            "52310077262".parse::<AccountId>(),
            Err(AccountIdError::Length { found: 11 })
        );
        assert_eq!(
            "0523100772620".parse::<AccountId>(),
            Err(AccountIdError::Length { found: 13 })
        );
        let long = "9".repeat(40);
        assert_eq!(
            long.parse::<AccountId>(),
            Err(AccountIdError::Length { found: 40 })
        );
    }

    #[test]
    fn rejects_non_digits() {
        assert_eq!(
            "05231007726x".parse::<AccountId>(),
            Err(AccountIdError::NotDigit {
                index: 11,
                found: 'x'
            })
        );
        assert_eq!(
            " 052310077262".parse::<AccountId>(),
            Err(AccountIdError::NotDigit {
                index: 0,
                found: ' '
            })
        );
        // Digits from other scripts are digits to Unicode but not to AWS.
        assert_eq!(
            "05231007726٣".parse::<AccountId>(),
            Err(AccountIdError::NotDigit {
                index: 11,
                found: '٣'
            })
        );
        assert_eq!(
            "-52310077262".parse::<AccountId>(),
            Err(AccountIdError::NotDigit {
                index: 0,
                found: '-'
            })
        );
    }

    #[test]
    fn errors_escape_control_characters() {
        let err = "0523\u{1b}[31m".parse::<AccountId>().unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
    }

    #[test]
    fn new_rejects_thirteen_digits() {
        assert_eq!(
            AccountId::new(AccountId::MAX + 1),
            Err(AccountIdError::OutOfRange {
                value: 1_000_000_000_000
            })
        );
    }

    #[test]
    fn decode_exposes_the_account() {
        let account = AccountId::new(7).unwrap();
        assert_eq!(AccountDecode::Account(account).account(), Some(account));
        assert_eq!(AccountDecode::Legacy.account(), None);
    }
}
