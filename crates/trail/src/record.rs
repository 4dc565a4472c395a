//! The CloudTrail record model: a typed, borrowed view of the fields the detectors read, plus
//! the raw JSON of the whole record so that an alert can carry it unchanged.
//!
//! Strings are `Cow<'a, str>`: they borrow from the input buffer unless JSON escapes force a
//! copy, and fields nobody reads are skipped by the parser without being materialised.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::time::EventTime;

/// One CloudTrail record: typed fields and the raw JSON they came from.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The fields the detectors read.
    pub fields: Fields<'a>,
    /// The whole record as it appeared in the input (for EventBridge, the `detail` object).
    pub raw: Cow<'a, RawValue>,
}

impl<'a> Record<'a> {
    /// Parses one record from its raw JSON. Fails when the JSON is not a CloudTrail record
    /// (no `eventTime`/`@timestamp`, `eventName` or `eventSource`, or a field of the wrong type).
    pub fn from_raw(raw: &'a RawValue) -> Result<Record<'a>, serde_json::Error> {
        let fields = serde_json::from_str(raw.get())?;
        Ok(Record {
            fields,
            raw: Cow::Borrowed(raw),
        })
    }

    /// Reads an AWS Health event (EventBridge `detail-type` "AWS Health Event") as a record, so
    /// that the detectors see AWS's own findings the way they see calls: `eventSource` is
    /// [`HEALTH_EVENT_SOURCE`], `eventName` the event type code (e.g.
    /// `AWS_RISK_CREDENTIALS_EXPOSED`), the time, region and account those of the event, and
    /// `raw` the whole event, unchanged.
    pub fn from_health_event(raw: &'a RawValue) -> Result<Record<'a>, serde_json::Error> {
        let event: HealthEvent<'a> = serde_json::from_str(raw.get())?;
        Ok(Record {
            fields: Fields {
                event_time: event.time,
                event_name: event.detail.event_type_code,
                event_source: Cow::Borrowed(HEALTH_EVENT_SOURCE),
                aws_region: event.region,
                source_ip_address: None,
                user_agent: None,
                error_code: None,
                error_message: None,
                event_id: event.id,
                recipient_account_id: event.account,
                vpc_endpoint_id: None,
                vpc_endpoint_account_id: None,
                user_identity: UserIdentity::default(),
                request_parameters: RequestParameters::default(),
            },
            raw: Cow::Borrowed(raw),
        })
    }

    /// Parses one record from a JSON string the caller owns (for example a CloudWatch Logs
    /// message, which arrives as an escaped string and has to be copied out first).
    pub fn from_owned_json(json: String) -> Result<Record<'static>, serde_json::Error> {
        let raw = RawValue::from_string(json)?;
        let fields = serde_json::from_str::<Fields<'_>>(raw.get())?.into_owned();
        Ok(Record {
            fields,
            raw: Cow::Owned(raw),
        })
    }

    /// A copy that owns all its data, so it can outlive the input buffer (the reorder buffer
    /// holds records across files).
    pub fn into_owned(self) -> Record<'static> {
        Record {
            fields: self.fields.into_owned(),
            raw: Cow::Owned(self.raw.into_owned()),
        }
    }

    /// The raw record as one line: pretty-printed input keeps its line breaks in `raw`, and an
    /// alert quoting it must still fit one line of JSON lines output. Only whitespace outside
    /// strings is dropped, so keys keep their order and values their exact text.
    pub fn raw_one_line(&self) -> Box<RawValue> {
        let text = self.raw.get();
        if !text.contains(['\n', '\r']) {
            return self.raw.clone().into_owned();
        }
        let mut compact = String::with_capacity(text.len());
        let (mut in_string, mut escaped) = (false, false);
        for c in text.chars() {
            if in_string {
                compact.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
                in_string = c == '"';
                compact.push(c);
            }
        }
        RawValue::from_string(compact).expect("dropping whitespace between tokens keeps JSON valid")
    }
}

/// The `eventSource` of a record read from an AWS Health event.
pub const HEALTH_EVENT_SOURCE: &str = "health.amazonaws.com";

/// The members of an AWS Health event that a record is made of.
#[derive(Deserialize)]
struct HealthEvent<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    id: Option<Cow<'a, str>>,
    time: EventTime,
    #[serde(borrow, default)]
    region: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    detail: HealthDetail<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail<'a> {
    #[serde(borrow)]
    event_type_code: Cow<'a, str>,
}

/// The typed fields of a CloudTrail record that tripkey reads.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    /// When the call was made: `eventTime`, or Logstash's `@timestamp` when a pipeline renamed
    /// `eventTime` to it (`eventTime` wins when both are present).
    pub event_time: EventTime,
    /// The API action, e.g. `AssumeRole`.
    pub event_name: Cow<'a, str>,
    /// The service endpoint, e.g. `sts.amazonaws.com`.
    pub event_source: Cow<'a, str>,
    /// The region the call went to.
    pub aws_region: Cow<'a, str>,
    /// The caller's IP, or a service name such as `ec2.amazonaws.com` or `AWS Internal`.
    pub source_ip_address: Option<Cow<'a, str>>,
    /// The caller's user agent (attacker-controlled).
    pub user_agent: Option<Cow<'a, str>>,
    /// The error code of a failed call, e.g. `AccessDenied`.
    pub error_code: Option<Cow<'a, str>>,
    /// The error message of a failed call (may quote attacker-controlled text).
    pub error_message: Option<Cow<'a, str>>,
    /// CloudTrail's unique ID of this event.
    pub event_id: Option<Cow<'a, str>>,
    /// The account whose trail received the event.
    pub recipient_account_id: Option<Cow<'a, str>>,
    /// Set when the call came through a VPC endpoint.
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    /// The account that owns the VPC endpoint the call came through.
    pub vpc_endpoint_account_id: Option<Cow<'a, str>>,
    /// Who made the call.
    pub user_identity: UserIdentity<'a>,
    /// The request parameters tripkey reads; any other shape is ignored.
    pub request_parameters: RequestParameters<'a>,
}

/// [`Fields`] as written: the time may sit under either name, and serde would reject a record
/// with both as a duplicate field if one were an alias of the other.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldsWire<'a> {
    #[serde(default)]
    event_time: Option<EventTime>,
    #[serde(default, rename = "@timestamp")]
    logstash_timestamp: Option<EventTime>,
    #[serde(borrow)]
    event_name: Cow<'a, str>,
    #[serde(borrow)]
    event_source: Cow<'a, str>,
    #[serde(borrow, default)]
    aws_region: Cow<'a, str>,
    #[serde(
        borrow,
        default,
        deserialize_with = "borrowed_option",
        rename = "sourceIPAddress"
    )]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    error_message: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        deserialize_with = "borrowed_option",
        rename = "eventID"
    )]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    vpc_endpoint_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_identity: UserIdentity<'a>,
    #[serde(borrow, default)]
    request_parameters: RequestParameters<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = FieldsWire::deserialize(deserializer)?;
        let event_time = wire
            .event_time
            .or(wire.logstash_timestamp)
            .ok_or_else(|| de::Error::missing_field("eventTime"))?;
        Ok(Fields {
            event_time,
            event_name: wire.event_name,
            event_source: wire.event_source,
            aws_region: wire.aws_region,
            source_ip_address: wire.source_ip_address,
            user_agent: wire.user_agent,
            error_code: wire.error_code,
            error_message: wire.error_message,
            event_id: wire.event_id,
            recipient_account_id: wire.recipient_account_id,
            vpc_endpoint_id: wire.vpc_endpoint_id,
            vpc_endpoint_account_id: wire.vpc_endpoint_account_id,
            user_identity: wire.user_identity,
            request_parameters: wire.request_parameters,
        })
    }
}

impl Fields<'_> {
    /// A copy that owns all its strings.
    pub fn into_owned(self) -> Fields<'static> {
        Fields {
            event_time: self.event_time,
            event_name: owned(self.event_name),
            event_source: owned(self.event_source),
            aws_region: owned(self.aws_region),
            source_ip_address: self.source_ip_address.map(owned),
            user_agent: self.user_agent.map(owned),
            error_code: self.error_code.map(owned),
            error_message: self.error_message.map(owned),
            event_id: self.event_id.map(owned),
            recipient_account_id: self.recipient_account_id.map(owned),
            vpc_endpoint_id: self.vpc_endpoint_id.map(owned),
            vpc_endpoint_account_id: self.vpc_endpoint_account_id.map(owned),
            user_identity: self.user_identity.into_owned(),
            request_parameters: self.request_parameters.into_owned(),
        }
    }
}

fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

/// `userIdentity`: who made the call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    /// Root, IAMUser, AssumedRole, Role, FederatedUser, AWSAccount, AWSService,
    /// IdentityCenterUser, SAMLUser, WebIdentityUser or Unknown.
    #[serde(borrow, default, deserialize_with = "borrowed_option", rename = "type")]
    pub identity_type: Option<Cow<'a, str>>,
    /// The principal's ARN.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub arn: Option<Cow<'a, str>>,
    /// The principal's account.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub account_id: Option<Cow<'a, str>>,
    /// The access key the request was signed with.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub access_key_id: Option<Cow<'a, str>>,
    /// The IAM user name, for IAMUser identities.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub user_name: Option<Cow<'a, str>>,
    /// The principal ID (`AIDA…`, `AROA…:session`).
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub principal_id: Option<Cow<'a, str>>,
    /// The service that made the call on the principal's behalf.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub invoked_by: Option<Cow<'a, str>>,
    /// Session details for temporary credentials.
    #[serde(borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
}

impl UserIdentity<'_> {
    fn into_owned(self) -> UserIdentity<'static> {
        UserIdentity {
            identity_type: self.identity_type.map(owned),
            arn: self.arn.map(owned),
            account_id: self.account_id.map(owned),
            access_key_id: self.access_key_id.map(owned),
            user_name: self.user_name.map(owned),
            principal_id: self.principal_id.map(owned),
            invoked_by: self.invoked_by.map(owned),
            session_context: self.session_context.map(SessionContext::into_owned),
        }
    }

    /// `sessionContext.ec2RoleDelivery`: "1.0" when the credentials came from IMDSv1,
    /// "2.0" for IMDSv2.
    pub fn ec2_role_delivery(&self) -> Option<&str> {
        self.session_context.as_ref()?.ec2_role_delivery.as_deref()
    }

    /// `sessionContext.sessionIssuer.arn`: the role (or user) that issued the session.
    pub fn session_issuer_arn(&self) -> Option<&str> {
        self.session_context
            .as_ref()?
            .session_issuer
            .as_ref()?
            .arn
            .as_deref()
    }
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    /// The entity that issued the temporary credentials.
    #[serde(borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    /// "1.0" (IMDSv1) or "2.0" (IMDSv2) for EC2 instance role credentials.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub ec2_role_delivery: Option<Cow<'a, str>>,
}

impl SessionContext<'_> {
    fn into_owned(self) -> SessionContext<'static> {
        SessionContext {
            session_issuer: self.session_issuer.map(|issuer| SessionIssuer {
                issuer_type: issuer.issuer_type.map(owned),
                arn: issuer.arn.map(owned),
                user_name: issuer.user_name.map(owned),
            }),
            ec2_role_delivery: self.ec2_role_delivery.map(owned),
        }
    }
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    /// `Role`, `IAMUser` or `Root`.
    #[serde(borrow, default, deserialize_with = "borrowed_option", rename = "type")]
    pub issuer_type: Option<Cow<'a, str>>,
    /// The issuer's ARN, e.g. `arn:aws:iam::A:role/NAME`.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub arn: Option<Cow<'a, str>>,
    /// The issuer's friendly name.
    #[serde(borrow, default, deserialize_with = "borrowed_option")]
    pub user_name: Option<Cow<'a, str>>,
}

/// The `requestParameters` members tripkey reads. `requestParameters` is free-form per API,
/// so any shape (null, string, array, object with other members or other types) is accepted,
/// and members of an unexpected type read as absent.
#[derive(Debug, Clone, Default)]
pub struct RequestParameters<'a> {
    /// `roleArn` (sts:AssumeRole).
    pub role_arn: Option<Cow<'a, str>>,
    /// `roleSessionName` (sts:AssumeRole; the instance ID when EC2 assumes an instance role).
    pub role_session_name: Option<Cow<'a, str>>,
    /// `instanceId` (ec2:AssociateAddress, ec2:AttachNetworkInterface).
    pub instance_id: Option<Cow<'a, str>>,
}

impl RequestParameters<'_> {
    fn into_owned(self) -> RequestParameters<'static> {
        RequestParameters {
            role_arn: self.role_arn.map(owned),
            role_session_name: self.role_session_name.map(owned),
            instance_id: self.instance_id.map(owned),
        }
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ParameterKey {
    RoleArn,
    RoleSessionName,
    InstanceId,
    #[serde(other)]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for RequestParameters<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParametersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ParametersVisitor<'a> {
            type Value = RequestParameters<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut parameters = RequestParameters::default();
                while let Some(key) = map.next_key::<ParameterKey>()? {
                    let slot = match key {
                        ParameterKey::RoleArn => &mut parameters.role_arn,
                        ParameterKey::RoleSessionName => &mut parameters.role_session_name,
                        ParameterKey::InstanceId => &mut parameters.instance_id,
                        ParameterKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<LenientString<'a>>()?.0;
                }
                Ok(parameters)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RequestParameters::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RequestParameters::default())
            }
        }
        deserializer.deserialize_any(ParametersVisitor(std::marker::PhantomData))
    }
}

/// Deserializes an optional string borrowing it from the input when it has no escapes.
/// Serde borrows a `Cow<str>` field only when the field's type is exactly `Cow<str>`; inside
/// an `Option` it would always allocate.
fn borrowed_option<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct OptionVisitor<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for OptionVisitor<'a> {
        type Value = Option<Cow<'a, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
        }
    }
    struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
        type Value = Option<Cow<'a, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
    }
    deserializer.deserialize_option(OptionVisitor(std::marker::PhantomData))
}

/// A string that reads as `None` when the JSON value is not a string.
struct LenientString<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientString<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StringVisitor<'a> {
            type Value = LenientString<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LenientString(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientString(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientString(None))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientString(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LenientString(None))
            }
        }
        deserializer.deserialize_any(StringVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Record<'_> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        Record::from_raw(raw).unwrap()
    }

    #[test]
    fn reads_the_fields_detectors_need_and_keeps_raw() {
        let json = r#"{"eventVersion":"1.08","eventTime":"2020-09-14T00:48:30Z",
            "eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1",
            "sourceIPAddress":"ec2.amazonaws.com","userAgent":"ec2.amazonaws.com",
            "userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},
            "requestParameters":{"roleArn":"arn:aws:iam::123456789123:role/R","roleSessionName":"i-0317f6c6b66ae9c40","durationSeconds":3600},
            "tlsDetails":{"tlsVersion":"TLSv1.2"},"eventID":"e1"}"#;
        let record = parse(json);
        let f = &record.fields;
        assert_eq!(f.event_name, "AssumeRole");
        assert_eq!(f.source_ip_address.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(
            f.request_parameters.role_session_name.as_deref(),
            Some("i-0317f6c6b66ae9c40")
        );
        assert_eq!(f.user_identity.identity_type.as_deref(), Some("AWSService"));
        assert!(matches!(f.event_name, Cow::Borrowed(_)));
        // Optional strings borrow too, at every level.
        assert!(matches!(f.source_ip_address, Some(Cow::Borrowed(_))));
        assert!(matches!(
            f.user_identity.identity_type,
            Some(Cow::Borrowed(_))
        ));
        assert!(matches!(
            f.request_parameters.role_session_name,
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(record.raw.get(), json);
    }

    #[test]
    fn accepts_logstash_timestamp_and_odd_request_parameters() {
        for parameters in [
            "null",
            "\"x\"",
            "[1,2]",
            "{\"instanceId\":{\"nested\":true}}",
        ] {
            let json = format!(
                r#"{{"@timestamp":"2020-09-14T00:48:30.000Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{parameters}}}"#
            );
            let record = parse(&json);
            assert_eq!(record.fields.event_time, EventTime(1_600_044_510_000));
            assert!(record.fields.request_parameters.instance_id.is_none());
        }
    }

    #[test]
    fn event_time_wins_over_a_logstash_timestamp_beside_it() {
        let json = r#"{"eventTime":"2020-09-14T00:48:30Z","@timestamp":"2020-09-14T00:50:00.000Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#;
        assert_eq!(
            parse(json).fields.event_time,
            EventTime::parse("2020-09-14T00:48:30Z").unwrap()
        );
        let raw: &RawValue =
            serde_json::from_str(r#"{"eventSource":"s3.amazonaws.com","eventName":"X"}"#).unwrap();
        let error = Record::from_raw(raw).unwrap_err();
        assert_eq!(error.to_string(), "missing field `eventTime`");
    }

    #[test]
    fn escaped_strings_are_decoded_and_owned_copy_matches() {
        let json = r#"{"eventTime":"2020-09-14T00:48:30Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"a\"b\u0007"}"#;
        let record = parse(json).into_owned();
        assert_eq!(record.fields.user_agent.as_deref(), Some("a\"b\u{7}"));
        assert_eq!(record.raw.get(), json);
    }

    #[test]
    fn a_record_without_required_fields_is_an_error() {
        let raw: &RawValue = serde_json::from_str(r#"{"eventName":"X"}"#).unwrap();
        assert!(Record::from_raw(raw).is_err());
    }

    #[test]
    fn a_pretty_printed_record_is_quoted_on_one_line_with_its_strings_intact() {
        let json = "{\n  \"eventTime\": \"2020-09-14T00:48:30Z\",\n  \"eventSource\": \"s3.amazonaws.com\",\n  \"eventName\": \"GetObject\",\n  \"userAgent\": \"a \\\"quoted\\\" \\\\ agent\\n x\",\n  \"requestParameters\": { \"key\" : [ 1 , 2 ] }\n}";
        let record = parse(json);
        let line = record.raw_one_line();
        assert!(!line.get().contains('\n'), "{}", line.get());
        assert_eq!(
            line.get(),
            r#"{"eventTime":"2020-09-14T00:48:30Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"a \"quoted\" \\ agent\n x","requestParameters":{"key":[1,2]}}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(line.get()).unwrap();
        assert_eq!(
            reparsed,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        let compact =
            parse(r#"{"eventTime":"2020-09-14T00:48:30Z", "eventSource":"s","eventName":"n"}"#);
        assert_eq!(
            compact.raw_one_line().get(),
            compact.raw.get(),
            "a one-line record is kept as it is"
        );
    }
}
