use std::ops::RangeInclusive;
use std::time::SystemTime;

use crate::{policy::DENY_ALL_POLICY, required, system_time, AwsClients, AwsError, Secret};

/// The durations GetFederationToken accepts, in seconds: 15 minutes to 36 hours.
pub const FEDERATION_DURATION_SECONDS: RangeInclusive<i32> = 900..=129_600;

/// The durations AssumeRole accepts, in seconds: 15 minutes to 12 hours (the role's own
/// maximum session duration must allow it too).
pub const ROLE_SESSION_DURATION_SECONDS: RangeInclusive<i32> = 900..=43_200;

/// Short-term credentials (`ASIA…`) issued as a canary.
#[derive(Clone, Debug)]
pub struct IssuedSession {
    /// The access key ID. Short-term key IDs are not unique over time: match canary use by
    /// [`IssuedSession::principal_arn`].
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token, needed with the key.
    pub session_token: Secret,
    /// When the credentials stop working.
    pub expiration: SystemTime,
    /// The principal CloudTrail will show: `arn:aws:sts::A:federated-user/NAME` or
    /// `arn:aws:sts::A:assumed-role/ROLE/SESSION`. It carries the canary's name.
    pub principal_arn: String,
}

impl AwsClients {
    /// Issues a federation-token canary named `name`, valid for `duration_seconds`
    /// (see [`FEDERATION_DURATION_SECONDS`]), with a deny-all session policy.
    ///
    /// AWS only answers this for an IAM user's long-term key (the dedicated issuer user, see
    /// `ensure_federation_issuer_user`), not for a role or for root.
    pub async fn get_federation_token(
        &self,
        name: &str,
        duration_seconds: i32,
    ) -> Result<IssuedSession, AwsError> {
        const ACTION: &str = "sts:GetFederationToken";
        check_principal_name("federation token name", name, 2..=32)?;
        check_duration(
            "federation token duration",
            duration_seconds,
            FEDERATION_DURATION_SECONDS,
        )?;
        let out = self
            .sts
            .get_federation_token()
            .name(name)
            .duration_seconds(duration_seconds)
            .policy(DENY_ALL_POLICY)
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        let user = required(ACTION, "FederatedUser", out.federated_user)?;
        let session = session(ACTION, out.credentials, user.arn)?;
        tracing::info!(principal = %session.principal_arn, "issued federation token");
        Ok(session)
    }

    /// Issues a role-session canary: assumes `role_arn` (the decoy role) as `session_name`,
    /// for `duration_seconds` (see [`ROLE_SESSION_DURATION_SECONDS`]), with a deny-all session
    /// policy.
    pub async fn assume_role_canary(
        &self,
        role_arn: &str,
        session_name: &str,
        duration_seconds: i32,
    ) -> Result<IssuedSession, AwsError> {
        const ACTION: &str = "sts:AssumeRole";
        check_principal_name("role session name", session_name, 2..=64)?;
        check_duration(
            "role session duration",
            duration_seconds,
            ROLE_SESSION_DURATION_SECONDS,
        )?;
        let out = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .duration_seconds(duration_seconds)
            .policy(DENY_ALL_POLICY)
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        let user = required(ACTION, "AssumedRoleUser", out.assumed_role_user)?;
        let session = session(ACTION, out.credentials, user.arn)?;
        tracing::info!(principal = %session.principal_arn, "issued role session");
        Ok(session)
    }
}

fn session(
    action: &'static str,
    credentials: Option<aws_sdk_sts::types::Credentials>,
    principal_arn: String,
) -> Result<IssuedSession, AwsError> {
    let c = required(action, "Credentials", credentials)?;
    Ok(IssuedSession {
        access_key_id: c.access_key_id,
        secret_access_key: Secret::new(c.secret_access_key),
        session_token: Secret::new(c.session_token),
        expiration: system_time(action, c.expiration)?,
        principal_arn,
    })
}

/// Federated user and role session names: `[\w+=,.@-]` (ASCII word characters), bounded length.
fn check_principal_name(
    what: &'static str,
    name: &str,
    length: RangeInclusive<usize>,
) -> Result<(), AwsError> {
    if !length.contains(&name.len()) {
        return Err(AwsError::InvalidInput {
            what,
            reason: format!(
                "{name:?} is {} characters long; it must be {} to {}",
                name.chars().count(),
                length.start(),
                length.end()
            ),
        });
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c)))
    {
        return Err(AwsError::InvalidInput {
            what,
            reason: format!(
                "{name:?} contains {bad:?}; only letters, digits and _ + = , . @ - are allowed"
            ),
        });
    }
    Ok(())
}

fn check_duration(
    what: &'static str,
    seconds: i32,
    allowed: RangeInclusive<i32>,
) -> Result<(), AwsError> {
    if allowed.contains(&seconds) {
        Ok(())
    } else {
        Err(AwsError::InvalidInput {
            what,
            reason: format!(
                "{seconds} s is outside {}..={} s ({} min to {} h)",
                allowed.start(),
                allowed.end(),
                allowed.start() / 60,
                allowed.end() / 3600
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names_follow_aws_rules() {
        let check = |n: &str| check_principal_name("federation token name", n, 2..=32);
        assert!(check("ab").is_ok());
        assert!(check("build-agent_7+ops=x,y.z@corp").is_ok());
        assert!(check(&"a".repeat(32)).is_ok());
        let short = check("a").unwrap_err().to_string();
        assert!(short.contains("2 to 32"), "{short}");
        assert!(check(&"a".repeat(33)).is_err());
        let space = check("build agent").unwrap_err().to_string();
        assert!(space.contains("' '"), "{space}");
        assert!(
            check("naïve").is_err(),
            "non-ASCII word characters are not allowed"
        );
        assert!(check_principal_name("role session name", &"s".repeat(64), 2..=64).is_ok());
        assert!(check_principal_name("role session name", &"s".repeat(65), 2..=64).is_err());
    }

    #[test]
    fn durations_are_bounded() {
        let fed = |s| check_duration("d", s, FEDERATION_DURATION_SECONDS);
        assert!(fed(900).is_ok());
        assert!(fed(129_600).is_ok());
        let low = fed(899).unwrap_err().to_string();
        assert!(low.contains("900..=129600"), "{low}");
        assert!(fed(129_601).is_err());
        assert!(check_duration("d", 43_201, ROLE_SESSION_DURATION_SECONDS).is_err());
    }
}
