//! The canary registry's model: what a canary is, its life-cycle states and its history.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use trail::EventTime;

/// Text that does not name a variant of one of the model's enumerations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {text:?}: expected one of {expected}")]
pub struct UnknownVariant {
    /// Which enumeration was being read, e.g. "canary kind".
    pub what: &'static str,
    /// The text that was given.
    pub text: String,
    /// The accepted spellings, comma-separated.
    pub expected: &'static str,
}

/// Declares a fieldless enum whose text form (Display, FromStr, serde, the database column)
/// is one fixed spelling per variant, so the four can never disagree.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The text form, as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Written out rather than derived: the derive does not see the `serde(rename)` this
        // macro generates, and would name the variants instead of their text forms.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(text: &str) -> Result<Self, UnknownVariant> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        what: $what,
                        text: text.to_owned(),
                        expected: concat!($($text, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// What kind of AWS credential a canary is.
    CanaryKind, "canary kind", {
        /// An IAM user with one long-term access key (AKIA…).
        IamUser => "iam-user",
        /// A federation token from GetFederationToken (ASIA…, up to 36 h).
        Federation => "federation",
        /// A role session from AssumeRole on a decoy role (ASIA…, up to 12 h).
        RoleSession => "role-session",
    }
);

text_enum!(
    /// Where a canary is in its life.
    CanaryStatus, "canary status", {
        /// Issued and watched.
        Active => "active",
        /// A short-term canary whose credentials ran out without being renewed.
        Expired => "expired",
        /// Its credentials were deleted; the record and history are kept.
        Revoked => "revoked",
        /// Someone used it. It is still watched unless it has been revoked as well.
        Triggered => "triggered",
    }
);

text_enum!(
    /// Who issued a canary's credentials.
    Issuer, "issuer", {
        /// Real credentials from AWS IAM or STS.
        Aws => "aws",
        /// Format-valid keys minted locally for demos and tests; they authenticate nowhere, and
        /// every listing and alert must say so.
        Offline => "offline",
    }
);

text_enum!(
    /// What happened to a canary.
    CanaryEventKind, "canary event kind", {
        /// It was created.
        Issued => "issued",
        /// An IAM-user canary got a new access key; the old one is retired.
        Rotated => "rotated",
        /// A short-term canary got fresh credentials and a new expiry.
        Renewed => "renewed",
        /// Its short-term credentials ran out.
        Expired => "expired",
        /// Someone used it.
        Triggered => "triggered",
        /// Its credentials were deleted for good.
        Revoked => "revoked",
        /// A retired access key was deleted in AWS after its grace period.
        KeyDeleted => "key-deleted",
    }
);

impl Issuer {
    /// Whether the credentials are minted locally and cannot authenticate anywhere.
    pub fn is_offline(self) -> bool {
        self == Issuer::Offline
    }
}

/// A canary's identifier: 10 characters of lowercase RFC 4648 base32 (50 random bits).
///
/// It becomes part of the canary's IAM or session name, so that the principal ARN in a
/// CloudTrail record identifies the canary. Short and lowercase, it reads like the suffix of a
/// generated service name rather than a UUID, which attackers' tools flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
#[serde(try_from = "String", into = "String")]
pub struct CanaryId(String);

/// Text that is not a canary id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid canary id {0:?}: expected 10 characters of a-z and 2-7")]
pub struct InvalidCanaryId(pub String);

impl CanaryId {
    /// Characters in an id.
    pub const LEN: usize = 10;
    const ALPHABET: &'static [u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// A new random id.
    pub fn generate() -> CanaryId {
        let mut rng = rand::rng();
        let id = (0..Self::LEN)
            .map(|_| char::from(Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())]))
            .collect();
        CanaryId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CanaryId {
    type Err = InvalidCanaryId;

    fn from_str(text: &str) -> Result<Self, InvalidCanaryId> {
        let valid = text.len() == Self::LEN && text.bytes().all(|b| Self::ALPHABET.contains(&b));
        if valid {
            Ok(CanaryId(text.to_owned()))
        } else {
            Err(InvalidCanaryId(text.to_owned()))
        }
    }
}

impl TryFrom<String> for CanaryId {
    type Error = InvalidCanaryId;

    fn try_from(text: String) -> Result<Self, InvalidCanaryId> {
        text.parse()
    }
}

impl From<CanaryId> for String {
    fn from(id: CanaryId) -> String {
        id.0
    }
}

impl AsRef<str> for CanaryId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CanaryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free-form labels of a canary: by convention `owner`, `host` and `location`, plus any other
/// `key=value` pairs given at issue.
pub type Labels = BTreeMap<String, String>;

/// A canary as the registry holds it. Times are event-time milliseconds ([`EventTime`]), the
/// unit the detectors compare against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanaryRecord {
    /// The canary's identifier, also embedded in its name.
    pub id: CanaryId,
    /// What kind of credential it is.
    pub kind: CanaryKind,
    /// Who issued it; offline canaries authenticate nowhere.
    pub issuer: Issuer,
    /// The 12-digit AWS account the credentials belong to.
    pub account_id: String,
    /// The current access key ID (AKIA… or ASIA…).
    pub access_key_id: String,
    /// The principal ARN CloudTrail records for it (`arn:aws:iam::A:user/PATH/NAME`,
    /// `arn:aws:sts::A:federated-user/NAME` or `arn:aws:sts::A:assumed-role/ROLE/SESSION`).
    pub principal_arn: String,
    /// The IAM user name, federated user name or role session name.
    pub name: String,
    /// The IAM path (`/` when there is none).
    pub path: String,
    /// Owner, host, location and free `key=value` labels.
    pub labels: Labels,
    /// A note shown with every alert, e.g. where it was planted.
    pub memo: Option<String>,
    /// When it was issued.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: EventTime,
    /// When its current credentials expire (short-term kinds).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<EventTime>,
    /// When its access key was last rotated.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub rotated_at: Option<EventTime>,
    /// When it was revoked.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<EventTime>,
    /// Where it is in its life.
    pub status: CanaryStatus,
    /// The newest use already alerted on, so the last-used poller alerts only on newer ones.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_alert_at: Option<EventTime>,
    /// Whether the secret of the current key is kept (encrypted) for re-planting.
    pub secret_kept: bool,
    /// The API token that issued it; `None` when it was issued from the command line.
    pub issued_by: Option<String>,
}

/// What the caller knows about a canary when it has just been issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCanary {
    /// Its identifier, generated before issuing because the name embeds it.
    pub id: CanaryId,
    /// What kind of credential it is.
    pub kind: CanaryKind,
    /// Who issued it.
    pub issuer: Issuer,
    /// The 12-digit AWS account.
    pub account_id: String,
    /// The access key ID handed out.
    pub access_key_id: String,
    /// The principal ARN CloudTrail will record.
    pub principal_arn: String,
    /// The IAM user, federated user or role session name.
    pub name: String,
    /// The IAM path (`/` when there is none).
    pub path: String,
    /// Owner, host, location and free labels.
    pub labels: Labels,
    /// A note shown with every alert.
    pub memo: Option<String>,
    /// When it was issued.
    pub created_at: EventTime,
    /// When the credentials expire (short-term kinds).
    pub expires_at: Option<EventTime>,
    /// The API token issuing it; `None` from the command line.
    pub issued_by: Option<String>,
}

impl NewCanary {
    /// The record this canary is once inserted: active, never rotated, revoked or alerted on,
    /// with no secret kept. Lets a caller undo an issue whose recording failed.
    pub fn to_record(&self) -> CanaryRecord {
        CanaryRecord {
            id: self.id.clone(),
            kind: self.kind,
            issuer: self.issuer,
            account_id: self.account_id.clone(),
            access_key_id: self.access_key_id.clone(),
            principal_arn: self.principal_arn.clone(),
            name: self.name.clone(),
            path: self.path.clone(),
            labels: self.labels.clone(),
            memo: self.memo.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            rotated_at: None,
            revoked_at: None,
            status: CanaryStatus::Active,
            last_alert_at: None,
            secret_kept: false,
            issued_by: self.issued_by.clone(),
        }
    }
}

/// One entry in a canary's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanaryEvent {
    /// The canary it happened to.
    pub canary_id: CanaryId,
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: EventTime,
    /// What happened.
    pub kind: CanaryEventKind,
    /// Specifics: key IDs involved, the triggering record's event ID, a revocation reason.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// An access key a canary holds or has held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanaryKey {
    /// The canary holding it.
    pub canary_id: CanaryId,
    /// The access key ID.
    pub access_key_id: String,
    /// When it was handed out.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub issued_at: EventTime,
    /// When a rotation, renewal or revocation replaced it; a retired IAM key still works until
    /// it is deleted after its grace period.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub retired_at: Option<EventTime>,
    /// When it was deleted in AWS.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub deleted_at: Option<EventTime>,
}

/// Which canaries [`Store::list`](crate::Store::list) returns; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanaryFilter {
    /// Only canaries in this status.
    pub status: Option<CanaryStatus>,
    /// Only canaries of this kind.
    pub kind: Option<CanaryKind>,
    /// Only canaries in this account.
    pub account_id: Option<String>,
    /// Only canaries from this issuer.
    pub issuer: Option<Issuer>,
    /// Only canaries carrying every one of these `key=value` labels.
    pub labels: Vec<(String, String)>,
    /// Only canaries issued by this API token.
    pub issued_by: Option<String>,
    /// Only canaries whose name or a current or former access key ID contains this text.
    pub text: Option<String>,
    /// Only canaries whose credentials expire before this time.
    pub expiring_before: Option<EventTime>,
}

/// Where a page of canaries starts: after the canary created at this time with this id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryCursor {
    /// The last canary's creation time.
    pub created_at: EventTime,
    /// The last canary's id.
    pub id: CanaryId,
}

/// The current wall-clock time as an [`EventTime`], for stamping life-cycle events.
pub fn now() -> EventTime {
    EventTime::from(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for kind in CanaryKind::ALL {
            assert_eq!(kind.to_string().parse::<CanaryKind>().unwrap(), *kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        for status in CanaryStatus::ALL {
            assert_eq!(status.to_string().parse::<CanaryStatus>().unwrap(), *status);
        }
        for kind in CanaryEventKind::ALL {
            assert_eq!(kind.to_string().parse::<CanaryEventKind>().unwrap(), *kind);
        }
        assert_eq!(CanaryKind::RoleSession.as_str(), "role-session");
        assert_eq!(CanaryEventKind::KeyDeleted.as_str(), "key-deleted");
        assert!(Issuer::Offline.is_offline() && !Issuer::Aws.is_offline());
        let err = "user".parse::<CanaryKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown canary kind \"user\": expected one of iam-user, federation, role-session"
        );
    }

    #[test]
    fn ids_are_short_lowercase_base32() {
        let id = CanaryId::generate();
        assert_eq!(id.as_str().len(), 10);
        assert_eq!(id.as_str().parse::<CanaryId>().unwrap(), id);
        assert_ne!(CanaryId::generate(), id);
        for bad in [
            "",
            "abcdefghi",
            "abcdefghij1",
            "ABCDEFGHIJ",
            "abcdefghi1",
            "abcdefghi-",
        ] {
            assert!(bad.parse::<CanaryId>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<CanaryId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CanaryId>("\"not-an-id\"").is_err());
    }
}
