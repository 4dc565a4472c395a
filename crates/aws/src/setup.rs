use serde_json::json;

use crate::{policy::DENY_ALL_POLICY, required, AwsClients, AwsError};

/// The neutral name of the inline policy setup puts on the decoy role and the issuer user.
const SETUP_INLINE_POLICY_NAME: &str = "baseline";

/// Whether an `ensure_*` call made something or found it in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed already (its inline policy is put again, so it is as setup wants it).
    AlreadyThere,
}

/// What an `ensure_*` call made sure of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensured {
    /// The ARN of the policy, role or user.
    pub arn: String,
    /// Whether it was created by this call.
    pub outcome: Outcome,
}

impl AwsClients {
    /// Makes sure the managed deny-all policy `name` exists, to serve as the permissions
    /// boundary of IAM-user canaries. An existing policy of that name is left as it is.
    pub async fn ensure_boundary_policy(&self, name: &str) -> Result<Ensured, AwsError> {
        let me = self.caller_identity().await?;
        let arn = format!(
            "arn:{}:iam::{}:policy/{name}",
            me.partition(),
            me.account_id
        );
        match self.iam.get_policy().policy_arn(&arn).send().await {
            Ok(_) => {
                return Ok(Ensured {
                    arn,
                    outcome: Outcome::AlreadyThere,
                })
            }
            Err(e) => not_found_or(self.sdk_error("iam:GetPolicy", e))?,
        }
        const ACTION: &str = "iam:CreatePolicy";
        let created = self
            .iam
            .create_policy()
            .policy_name(name)
            .policy_document(DENY_ALL_POLICY)
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = required(ACTION, "Policy.Arn", out.policy.and_then(|p| p.arn))?;
                tracing::info!(%arn, "created the boundary policy");
                Ok(Ensured {
                    arn,
                    outcome: Outcome::Created,
                })
            }
            Err(e) => {
                created_meanwhile(self.sdk_error(ACTION, e))?;
                Ok(Ensured {
                    arn,
                    outcome: Outcome::AlreadyThere,
                })
            }
        }
    }

    /// Makes sure the decoy role `name` exists for role-session canaries: `trust_principal_arn`
    /// (the principal tripkey issues as; a role's ARN rather than one of its sessions) may
    /// assume it, and its inline policy denies everything. Sessions of up to 12 hours are
    /// allowed. The trust policy of an existing role is left as it is.
    pub async fn ensure_decoy_role(
        &self,
        name: &str,
        trust_principal_arn: &str,
    ) -> Result<Ensured, AwsError> {
        let existing = match self.iam.get_role().role_name(name).send().await {
            Ok(out) => Some(required("iam:GetRole", "Role", out.role)?.arn),
            Err(e) => not_found_or(self.sdk_error("iam:GetRole", e)).map(|()| None)?,
        };
        let (arn, outcome) = match existing {
            Some(arn) => (arn, Outcome::AlreadyThere),
            None => {
                const ACTION: &str = "iam:CreateRole";
                let trust = json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"AWS": trust_principal_arn},
                        "Action": "sts:AssumeRole"
                    }]
                });
                let created = self
                    .iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(trust.to_string())
                    .max_session_duration(43_200)
                    .send()
                    .await;
                match created {
                    Ok(out) => {
                        let arn = required(ACTION, "Role", out.role)?.arn;
                        tracing::info!(%arn, "created the decoy role");
                        (arn, Outcome::Created)
                    }
                    Err(e) => {
                        created_meanwhile(self.sdk_error(ACTION, e))?;
                        let out = self
                            .iam
                            .get_role()
                            .role_name(name)
                            .send()
                            .await
                            .map_err(|e| self.sdk_error("iam:GetRole", e))?;
                        (
                            required("iam:GetRole", "Role", out.role)?.arn,
                            Outcome::AlreadyThere,
                        )
                    }
                }
            }
        };
        // Put on every run: a run interrupted between CreateRole and here would otherwise
        // leave a role without its deny.
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(SETUP_INLINE_POLICY_NAME)
            .policy_document(DENY_ALL_POLICY)
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:PutRolePolicy", e))?;
        Ok(Ensured { arn, outcome })
    }

    /// Makes sure the federation issuer user `name` exists: a user whose only permission is
    /// `sts:GetFederationToken`, whose access key tripkey uses to issue federation canaries.
    /// (The canaries get no permissions from it: their session policy denies everything.)
    pub async fn ensure_federation_issuer_user(&self, name: &str) -> Result<Ensured, AwsError> {
        let existing = match self.iam.get_user().user_name(name).send().await {
            Ok(out) => Some(required("iam:GetUser", "User", out.user)?.arn),
            Err(e) => not_found_or(self.sdk_error("iam:GetUser", e)).map(|()| None)?,
        };
        let (arn, outcome) = match existing {
            Some(arn) => (arn, Outcome::AlreadyThere),
            None => {
                const ACTION: &str = "iam:CreateUser";
                let created = self.iam.create_user().user_name(name).send().await;
                match created {
                    Ok(out) => {
                        let arn = required(ACTION, "User", out.user)?.arn;
                        tracing::info!(%arn, "created the federation issuer user");
                        (arn, Outcome::Created)
                    }
                    Err(e) => {
                        created_meanwhile(self.sdk_error(ACTION, e))?;
                        let out = self
                            .iam
                            .get_user()
                            .user_name(name)
                            .send()
                            .await
                            .map_err(|e| self.sdk_error("iam:GetUser", e))?;
                        (
                            required("iam:GetUser", "User", out.user)?.arn,
                            Outcome::AlreadyThere,
                        )
                    }
                }
            }
        };
        let only_federation = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "sts:GetFederationToken",
                "Resource": "*"
            }]
        });
        self.iam
            .put_user_policy()
            .user_name(name)
            .policy_name(SETUP_INLINE_POLICY_NAME)
            .policy_document(only_federation.to_string())
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:PutUserPolicy", e))?;
        Ok(Ensured { arn, outcome })
    }
}

/// `Ok` when a create failed because the entity exists: another setup running at the same
/// time made it between our lookup and our create, and it is there as wanted.
fn created_meanwhile(err: AwsError) -> Result<(), AwsError> {
    if err.is_already_exists() {
        Ok(())
    } else {
        Err(err)
    }
}

/// `Ok` when the lookup found nothing (so setup creates it), the error otherwise.
fn not_found_or(err: AwsError) -> Result<(), AwsError> {
    if err.is_not_found() {
        Ok(())
    } else {
        Err(err)
    }
}
