//! Access key IDs and IAM unique IDs: validation, the account they encode, minting.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::RangeInclusive;
use std::str::FromStr;

use rand::Rng;

use crate::account::{AccountDecode, AccountId};

/// What a four-character ID prefix says the ID belongs to.
///
/// Prefixes from AWS's table of unique ID prefixes. Only [`KeyKind::LongTerm`] and
/// [`KeyKind::Temporary`] are access key IDs proper; the rest appear in CloudTrail as principal
/// IDs and resource IDs, and carry the owning account the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// `AKIA`: a long-term access key of an IAM user (or the root user).
    LongTerm,
    /// `ASIA`: a temporary access key issued by STS.
    Temporary,
    /// `ABIA`: an STS service bearer token.
    BearerToken,
    /// `ACCA`: a context-specific credential.
    ContextSpecificCredential,
    /// `AGPA`: an IAM group.
    Group,
    /// `AIDA`: an IAM user.
    User,
    /// `AIPA`: an EC2 instance profile.
    InstanceProfile,
    /// `ANPA`: a managed policy.
    ManagedPolicy,
    /// `ANVA`: a version of a managed policy.
    ManagedPolicyVersion,
    /// `APKA`: a public key.
    PublicKey,
    /// `AROA`: an IAM role.
    Role,
    /// `ASCA`: a server certificate.
    Certificate,
}

impl KeyKind {
    /// Every kind, in the order error messages list their prefixes.
    pub const ALL: [KeyKind; 12] = [
        KeyKind::LongTerm,
        KeyKind::Temporary,
        KeyKind::BearerToken,
        KeyKind::ContextSpecificCredential,
        KeyKind::Group,
        KeyKind::User,
        KeyKind::InstanceProfile,
        KeyKind::ManagedPolicy,
        KeyKind::ManagedPolicyVersion,
        KeyKind::PublicKey,
        KeyKind::Role,
        KeyKind::Certificate,
    ];

    /// The four-character prefix IDs of this kind start with.
    pub const fn prefix(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "AKIA",
            KeyKind::Temporary => "ASIA",
            KeyKind::BearerToken => "ABIA",
            KeyKind::ContextSpecificCredential => "ACCA",
            KeyKind::Group => "AGPA",
            KeyKind::User => "AIDA",
            KeyKind::InstanceProfile => "AIPA",
            KeyKind::ManagedPolicy => "ANPA",
            KeyKind::ManagedPolicyVersion => "ANVA",
            KeyKind::PublicKey => "APKA",
            KeyKind::Role => "AROA",
            KeyKind::Certificate => "ASCA",
        }
    }

    /// The kind whose prefix is exactly `prefix` (case matters: AWS IDs are upper case).
    pub fn from_prefix(prefix: &str) -> Option<KeyKind> {
        KeyKind::ALL
            .into_iter()
            .find(|kind| kind.prefix() == prefix)
    }

    /// A short description for people, e.g. "long-term IAM user access key".
    pub const fn description(self) -> &'static str {
        match self {
            KeyKind::LongTerm => "long-term IAM user access key",
            KeyKind::Temporary => "temporary STS access key",
            KeyKind::BearerToken => "STS service bearer token",
            KeyKind::ContextSpecificCredential => "context-specific credential",
            KeyKind::Group => "IAM group ID",
            KeyKind::User => "IAM user ID",
            KeyKind::InstanceProfile => "EC2 instance profile ID",
            KeyKind::ManagedPolicy => "managed policy ID",
            KeyKind::ManagedPolicyVersion => "managed policy version ID",
            KeyKind::PublicKey => "public key ID",
            KeyKind::Role => "IAM role ID",
            KeyKind::Certificate => "server certificate ID",
        }
    }

    /// Whether IDs of this kind are access key IDs, the half of a credential that signs requests.
    pub const fn is_access_key(self) -> bool {
        matches!(self, KeyKind::LongTerm | KeyKind::Temporary)
    }

    /// The lengths, prefix included, an ID of this kind may have.
    ///
    /// Access key IDs are always 20 characters. IAM unique IDs (users, roles, …) are 21 in
    /// CloudTrail today, while AWS's examples of several other kinds are 20 and no documentation
    /// pins each kind down, so the rest accept both rather than reject real IDs.
    const fn lengths(self) -> RangeInclusive<usize> {
        if self.is_access_key() {
            ID_LEN..=ID_LEN
        } else {
            ID_LEN..=ID_LEN + 1
        }
    }
}

/// The length of an access key ID.
const ID_LEN: usize = 20;
const PREFIX_LEN: usize = 4;
/// The characters after the prefix that hold the account: 16 base32 characters are 80 bits.
const BODY_CHARS: usize = 16;

/// RFC 4648 base32, the alphabet of everything after the prefix.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Set in modern IDs, which encode their account; clear in legacy ones.
const MODERN_BIT: u128 = 1 << 79;
const ACCOUNT_SHIFT: u32 = 39;
const ACCOUNT_MASK: u128 = (1 << 40) - 1;
const LOW_MASK: u64 = (1 << ACCOUNT_SHIFT) - 1;

fn base32_value(c: char) -> Option<u8> {
    match c {
        'A'..='Z' => Some(c as u8 - b'A'),
        '2'..='7' => Some(c as u8 - b'2' + 26),
        _ => None,
    }
}

/// A syntactically valid AWS access key ID or IAM unique ID.
///
/// Holding one means the prefix is known, the length fits the kind, everything after the
/// prefix is upper-case base32, and, for a modern ID, the encoded account fits in 12 digits
/// (an ID that encodes a larger number was never issued by AWS). So [`AccessKeyId::account`]
/// cannot fail.
///
/// Key IDs in CloudTrail are compared as plain strings elsewhere: anonymised datasets hold IDs
/// with characters outside base32, which this type rejects.
///
/// Equality, ordering and hashing are those of the text (the kind and account follow from it),
/// so a map keyed by `AccessKeyId` can be searched with a `&str` through [`Borrow`].
#[derive(Clone)]
pub struct AccessKeyId {
    text: String,
    kind: KeyKind,
    account: AccountDecode,
}

impl AccessKeyId {
    /// Validates `text` as a key ID, saying what is wrong with it if it is not one.
    pub fn parse(text: &str) -> Result<AccessKeyId, KeyError> {
        let found = text.chars().count();
        let Some(kind) = text.get(..PREFIX_LEN).and_then(KeyKind::from_prefix) else {
            if found < PREFIX_LEN {
                return Err(KeyError::Length { kind: None, found });
            }
            return Err(KeyError::Prefix {
                found: text.chars().take(PREFIX_LEN).collect(),
            });
        };
        if !kind.lengths().contains(&found) {
            return Err(KeyError::Length {
                kind: Some(kind),
                found,
            });
        }
        // A known prefix is four ASCII bytes, so slicing after it is on a character boundary.
        let mut value: u128 = 0;
        for (offset, c) in text[PREFIX_LEN..].chars().enumerate() {
            let Some(digit) = base32_value(c) else {
                return Err(KeyError::Character {
                    index: PREFIX_LEN + offset,
                    found: c,
                });
            };
            // A 21-character unique ID has one character beyond the 80 bits that matter.
            if offset < BODY_CHARS {
                value = value << 5 | u128::from(digit);
            }
        }
        let account = if value & MODERN_BIT == 0 {
            AccountDecode::Legacy
        } else {
            let number = ((value >> ACCOUNT_SHIFT) & ACCOUNT_MASK) as u64;
            let account = AccountId::new(number)
                .map_err(|_| KeyError::AccountOutOfRange { value: number })?;
            AccountDecode::Account(account)
        };
        Ok(AccessKeyId {
            text: text.to_owned(),
            kind,
            account,
        })
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What the prefix says the ID belongs to.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The account encoded in the ID, as anyone holding the ID can read it offline.
    pub fn account(&self) -> AccountDecode {
        self.account
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AccessKeyId").field(&self.text).finish()
    }
}

impl FromStr for AccessKeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<AccessKeyId, KeyError> {
        AccessKeyId::parse(text)
    }
}

impl PartialEq for AccessKeyId {
    fn eq(&self, other: &AccessKeyId) -> bool {
        self.text == other.text
    }
}

impl Eq for AccessKeyId {}

impl PartialOrd for AccessKeyId {
    fn partial_cmp(&self, other: &AccessKeyId) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AccessKeyId {
    fn cmp(&self, other: &AccessKeyId) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for AccessKeyId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Borrow<str> for AccessKeyId {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for AccessKeyId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Why text is not a valid key ID.
///
/// Messages quote offending text with `{:?}`, so control characters from attacker-supplied
/// input are escaped rather than reaching a terminal or log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The ID is too short to hold a prefix, or its length does not fit its kind.
    #[error("key ID has {found} characters; {}", expected_length(*kind))]
    Length {
        /// The kind named by the prefix, if the ID is long enough to have one.
        kind: Option<KeyKind>,
        /// How many characters the ID has.
        found: usize,
    },
    /// The first four characters are not a prefix AWS uses.
    #[error("key ID prefix {found:?} is not one AWS uses ({})", known_prefixes())]
    Prefix {
        /// The first four characters.
        found: String,
    },
    /// A character after the prefix is outside upper-case base32.
    #[error("key ID has {found:?} at index {index}; after the prefix only A-Z and 2-7 may appear")]
    Character {
        /// Where the character is, counted in characters from 0.
        index: usize,
        /// The offending character.
        found: char,
    },
    /// The ID is marked modern but encodes an account number longer than 12 digits.
    #[error("key ID encodes account number {value}, which has more than 12 digits")]
    AccountOutOfRange {
        /// The encoded number.
        value: u64,
    },
}

fn expected_length(kind: Option<KeyKind>) -> String {
    match kind {
        None => format!("an AWS ID has {ID_LEN} or {}", ID_LEN + 1),
        Some(kind) => {
            let lengths = kind.lengths();
            if lengths.start() == lengths.end() {
                format!("{} IDs have exactly {}", kind.prefix(), lengths.start())
            } else {
                format!(
                    "{} IDs have {} or {}",
                    kind.prefix(),
                    lengths.start(),
                    lengths.end()
                )
            }
        }
    }
}

fn known_prefixes() -> String {
    KeyKind::ALL.map(KeyKind::prefix).join(", ")
}

/// Validates `key_id` and decodes the account it encodes.
///
/// This is the attacker's offline lookup: the first 16 characters after the prefix, read as
/// RFC 4648 base32, form an 80-bit number v; if bit 79 is clear the ID is legacy, otherwise
/// the account is bits 39 to 78.
pub fn decode_account(key_id: &str) -> Result<AccountDecode, KeyError> {
    AccessKeyId::parse(key_id).map(|id| id.account())
}

/// Mints a modern ID of `kind` whose [`decode_account`] gives back `account`.
///
/// Only for tests and the offline issuer: the ID is format-valid but AWS has never issued it.
/// Access keys get 20 characters, other kinds 21, the length of the unique IDs CloudTrail shows
/// today.
pub fn mint_access_key_id(
    kind: KeyKind,
    account: AccountId,
    rng: &mut (impl Rng + ?Sized),
) -> AccessKeyId {
    let low = rng.random::<u64>() & LOW_MASK;
    let value = MODERN_BIT | u128::from(account.get()) << ACCOUNT_SHIFT | u128::from(low);
    // The first body character is bit 79 and the top four account bits. Accounts stay below
    // 15 * 2^36, so those four bits are at most 14 and the character is one of Q-Z or 2-6,
    // matching real modern keys.
    let len = *kind.lengths().end();
    let mut text = String::with_capacity(len);
    text.push_str(kind.prefix());
    for chunk in (0..BODY_CHARS).rev() {
        let digit = (value >> (5 * chunk)) as usize & 31;
        text.push(char::from(BASE32[digit]));
    }
    while text.len() < len {
        text.push(char::from(BASE32[rng.random_range(0..BASE32.len())]));
    }
    AccessKeyId {
        text,
        kind,
        account: AccountDecode::Account(account),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(digits: &str) -> AccountDecode {
        AccountDecode::Account(digits.parse().unwrap())
    }

    #[test]
    fn published_test_vectors() {
        let cases = [
            ("ASIAY34FZKBOKMUTVV7A", account("609629065308")),
            ("AKIAYVP4CIPPERUVIFXG", account("595918472158")),
            ("AKIASP2TPHJSQH3FJRUX", account("171436882533")),
            ("AKIAV7S32T2OSBFJQOIY", account("411435703965")),
            ("AKIAIOSFODNN7EXAMPLE", AccountDecode::Legacy),
        ];
        for (id, expected) in cases {
            assert_eq!(decode_account(id), Ok(expected), "{id}");
        }
    }

    #[test]
    fn kinds_from_prefixes() {
        let id = AccessKeyId::parse("ASIAY34FZKBOKMUTVV7A").unwrap();
        assert_eq!(id.kind(), KeyKind::Temporary);
        assert_eq!(id.as_str(), "ASIAY34FZKBOKMUTVV7A");
        assert_eq!(id.to_string(), "ASIAY34FZKBOKMUTVV7A");
        assert_eq!(
            "AKIAIOSFODNN7EXAMPLE"
                .parse::<AccessKeyId>()
                .unwrap()
                .kind(),
            KeyKind::LongTerm
        );
        for kind in KeyKind::ALL {
            assert_eq!(KeyKind::from_prefix(kind.prefix()), Some(kind));
        }
        assert_eq!(KeyKind::from_prefix("akia"), None);
        assert_eq!(KeyKind::from_prefix("AKI"), None);
    }

    #[test]
    fn maps_keyed_by_id_are_searchable_by_text() {
        let id = AccessKeyId::parse("ASIAY34FZKBOKMUTVV7A").unwrap();
        let map = std::collections::HashMap::from([(id, "canary")]);
        assert_eq!(map.get("ASIAY34FZKBOKMUTVV7A"), Some(&"canary"));
        assert_eq!(map.get("AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn role_and_user_ids_carry_the_same_account_as_keys() {
        // From the OTRF ec2_proxy_s3_exfiltration dataset: a role's unique ID and a session
        // key issued to it decode to one account. The dataset's recipientAccountId is
        // anonymised, so the decoded number cannot be checked against it.
        let role = AccessKeyId::parse("AROA5FLZVX4OAMSW6BCRH").unwrap();
        let key = AccessKeyId::parse("ASIA5FLZVX4OAET5K4P5").unwrap();
        assert_eq!(role.kind(), KeyKind::Role);
        assert_eq!(role.account(), key.account());
        assert_eq!(role.account(), account("904882667292"));
        let user = AccessKeyId::parse("AIDAICAK2CN5MGHIIDIHA").unwrap();
        assert_eq!(user.kind(), KeyKind::User);
        assert_eq!(user.account(), AccountDecode::Legacy);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            decode_account(""),
            Err(KeyError::Length {
                kind: None,
                found: 0
            })
        );
        assert_eq!(
            decode_account("AKI"),
            Err(KeyError::Length {
                kind: None,
                found: 3
            })
        );
        assert_eq!(
            decode_account("AKIAIOSFODNN7EXAMPL"),
            Err(KeyError::Length {
                kind: Some(KeyKind::LongTerm),
                found: 19
            })
        );
        assert_eq!(
            decode_account("AKIAIOSFODNN7EXAMPLEA"),
            Err(KeyError::Length {
                kind: Some(KeyKind::LongTerm),
                found: 21
            })
        );
        assert_eq!(
            decode_account("AROA5FLZVX4OAMSW6BCRHA"),
            Err(KeyError::Length {
                kind: Some(KeyKind::Role),
                found: 22
            })
        );
        // Lengths count characters, not bytes.
        assert_eq!(
            decode_account("AKIAIOSFODNN7EXAMPLÉ"),
            Err(KeyError::Character {
                index: 19,
                found: 'É'
            })
        );
    }

    #[test]
    fn rejects_unknown_prefixes() {
        assert_eq!(
            decode_account("akiaIOSFODNN7EXAMPLE"),
            Err(KeyError::Prefix {
                found: "akia".into()
            })
        );
        assert_eq!(
            decode_account("AKIBIOSFODNN7EXAMPLE"),
            Err(KeyError::Prefix {
                found: "AKIB".into()
            })
        );
        assert_eq!(
            decode_account("ÄKIAIOSFODNN7EXAMPLE"),
            Err(KeyError::Prefix {
                found: "ÄKIA".into()
            })
        );
    }

    #[test]
    fn rejects_characters_outside_base32() {
        // Digits 0, 1, 8 and 9 look plausible but are not base32; anonymised datasets use them.
        assert_eq!(
            decode_account("AKIA0W5KI69TY8X86BGT"),
            Err(KeyError::Character {
                index: 4,
                found: '0'
            })
        );
        assert_eq!(
            decode_account("AKIAIOSFODNN7EXAMPLe"),
            Err(KeyError::Character {
                index: 19,
                found: 'e'
            })
        );
        assert_eq!(
            decode_account("AKIAIOSFODNN7EXAMP E"),
            Err(KeyError::Character {
                index: 18,
                found: ' '
            })
        );
    }

    #[test]
    fn rejects_accounts_beyond_twelve_digits() {
        // '7' as the first body character sets bit 79 and makes the top account bits 1111.
        let number = AccessKeyId::parse("AKIA7AAAAAAAAAAAAAAA").unwrap_err();
        assert_eq!(number, KeyError::AccountOutOfRange { value: 15 << 36 });
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let cases = [
            ("AKI", "key ID has 3 characters; an AWS ID has 20 or 21"),
            (
                "AKIAIOSFODNN7EXAMPL",
                "key ID has 19 characters; AKIA IDs have exactly 20",
            ),
            (
                "AROA5FLZVX4OAMSW6BCRHA",
                "key ID has 22 characters; AROA IDs have 20 or 21",
            ),
            (
                "AKIBIOSFODNN7EXAMPLE",
                "key ID prefix \"AKIB\" is not one AWS uses (AKIA, ASIA, ABIA, ACCA, AGPA, AIDA, \
                 AIPA, ANPA, ANVA, APKA, AROA, ASCA)",
            ),
            (
                "AKIAIOSFODNN7EXAMPL1",
                "key ID has '1' at index 19; after the prefix only A-Z and 2-7 may appear",
            ),
            (
                "AKIA7AAAAAAAAAAAAAAA",
                "key ID encodes account number 1030792151040, which has more than 12 digits",
            ),
        ];
        for (id, message) in cases {
            assert_eq!(decode_account(id).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn errors_escape_control_characters() {
        for id in ["\u{1b}[2JAAAAAAAAAAAAAAAAA", "AKIAIOSFODNN7EXAMP\u{7}E"] {
            let message = decode_account(id).unwrap_err().to_string();
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }
}
