use std::time::SystemTime;

use aws_sdk_iam::types::Tag;

use crate::{policy::DENY_ALL_POLICY, required, system_time, AwsClients, AwsError, Secret};

/// What IAM says a user holds: everything that could let it act.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserHoldings {
    /// ARNs of the managed policies attached to the user.
    pub attached_policies: Vec<String>,
    /// Inline policies: (name, JSON document).
    pub inline_policies: Vec<(String, String)>,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// The permissions boundary's ARN, when GetUser reports one.
    pub permissions_boundary: Option<String>,
    /// Whether the user has a console password.
    pub login_profile: bool,
    /// The IDs of the user's access keys.
    pub access_keys: Vec<String>,
}

/// What an IAM-user canary is made of. The caller picks every name, so they can look ordinary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamUserSpec {
    /// The user name (up to 64 chars of `[\w+=,.@-]`).
    pub name: String,
    /// The IAM path, starting and ending with `/` (e.g. `/service/`); `/` for none.
    pub path: String,
    /// Tags as (key, value); use neutral keys, since tags can be read by whoever holds IAM rights.
    pub tags: Vec<(String, String)>,
    /// The deny-all permissions boundary to set on the user (see `ensure_boundary_policy`).
    pub boundary_policy_arn: Option<String>,
    /// The name of the inline deny-all policy; a neutral one.
    pub inline_policy_name: String,
}

/// A freshly created access key, the only moment its secret is known.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    /// The user the key belongs to.
    pub user_name: String,
    /// That user's ARN: the principal CloudTrail shows when the key is used.
    pub user_arn: String,
    /// The access key ID (`AKIA…`).
    pub access_key_id: String,
    /// The secret access key; AWS never shows it again.
    pub secret_access_key: Secret,
    /// When AWS created the key.
    pub created_at: SystemTime,
}

/// An existing access key of a user, as `iam:ListAccessKeys` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyInfo {
    /// The access key ID.
    pub access_key_id: String,
    /// Whether the key is active (not deactivated).
    pub active: bool,
    /// When AWS created the key.
    pub created_at: Option<SystemTime>,
}

/// What [`AwsClients::delete_iam_user_canary`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// The user existed and is gone now.
    Deleted,
    /// There was no such user: nothing to do.
    AlreadyAbsent,
}

impl AwsClients {
    /// Creates an IAM-user canary: the user (with its path, boundary and tags), its inline
    /// deny-all policy and one access key. No console password is ever set.
    ///
    /// If a step fails after the user was created, the user and everything made for it are
    /// deleted again before the error is returned, so a failed issue leaves nothing behind; if
    /// that cleanup fails too the error is [`AwsError::CleanupFailed`]. An account at its 5,000
    /// users gives [`AwsError::LimitExceeded`].
    pub async fn create_iam_user_canary(&self, spec: &IamUserSpec) -> Result<IssuedKey, AwsError> {
        const ACTION: &str = "iam:CreateUser";
        let tags = spec
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::InvalidInput {
                what: "tag",
                reason: e.to_string(),
            })?;
        let created = self
            .iam
            .create_user()
            .user_name(&spec.name)
            .path(&spec.path)
            .set_permissions_boundary(spec.boundary_policy_arn.clone())
            .set_tags(Some(tags).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        let user = required(ACTION, "User", created.user)?;
        tracing::info!(user = %user.arn, "created IAM user canary");

        match self.finish_iam_user_canary(spec, user.arn).await {
            Ok(key) => Ok(key),
            Err(cause) => {
                tracing::warn!(user = %spec.name, error = %cause, "issuing failed; deleting the user again");
                match self.delete_iam_user_canary(&spec.name).await {
                    Ok(_) => Err(cause),
                    Err(cleanup) => Err(AwsError::CleanupFailed {
                        user_name: spec.name.clone(),
                        cause: Box::new(cause),
                        cleanup: Box::new(cleanup),
                    }),
                }
            }
        }
    }

    /// The steps after CreateUser, whose failure has to be undone.
    async fn finish_iam_user_canary(
        &self,
        spec: &IamUserSpec,
        user_arn: String,
    ) -> Result<IssuedKey, AwsError> {
        self.iam
            .put_user_policy()
            .user_name(&spec.name)
            .policy_name(&spec.inline_policy_name)
            .policy_document(DENY_ALL_POLICY)
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:PutUserPolicy", e))?;
        self.new_access_key(&spec.name, user_arn).await
    }

    /// Creates another access key for `user_name` (rotation: create the new key, hand it out,
    /// then delete the old one). A user holds at most 2 keys: a third gives
    /// [`AwsError::LimitExceeded`].
    pub async fn create_access_key(&self, user_name: &str) -> Result<IssuedKey, AwsError> {
        const ACTION: &str = "iam:GetUser";
        let user = self
            .iam
            .get_user()
            .user_name(user_name)
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        let user_arn = required(ACTION, "User", user.user)?.arn;
        self.new_access_key(user_name, user_arn).await
    }

    async fn new_access_key(
        &self,
        user_name: &str,
        user_arn: String,
    ) -> Result<IssuedKey, AwsError> {
        const ACTION: &str = "iam:CreateAccessKey";
        let out = self
            .iam
            .create_access_key()
            .user_name(user_name)
            .send()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        let key = required(ACTION, "AccessKey", out.access_key)?;
        let created_at = match key.create_date {
            Some(at) => system_time(ACTION, at)?,
            None => SystemTime::now(),
        };
        tracing::info!(user = %user_arn, access_key_id = %key.access_key_id, "created access key");
        Ok(IssuedKey {
            user_name: key.user_name,
            user_arn,
            access_key_id: key.access_key_id,
            secret_access_key: Secret::new(key.secret_access_key),
            created_at,
        })
    }

    /// Deletes one access key of `user_name`. A key that is already gone is not an error.
    pub async fn delete_access_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<(), AwsError> {
        let deleted = self
            .iam
            .delete_access_key()
            .user_name(user_name)
            .access_key_id(access_key_id)
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:DeleteAccessKey", e));
        ignore_not_found(deleted)
    }

    /// The access keys `user_name` holds (at most 2).
    pub async fn list_access_keys(&self, user_name: &str) -> Result<Vec<AccessKeyInfo>, AwsError> {
        const ACTION: &str = "iam:ListAccessKeys";
        let keys = self
            .iam
            .list_access_keys()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error(ACTION, e))?;
        keys.into_iter()
            .map(|key| {
                Ok(AccessKeyInfo {
                    access_key_id: required(ACTION, "AccessKeyId", key.access_key_id)?,
                    active: key.status.is_some_and(|s| s.as_str() == "Active"),
                    created_at: key
                        .create_date
                        .map(|at| system_time(ACTION, at))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// What IAM says `user_name` holds, to compare a canary with what tripkey made; `None`
    /// when the user does not exist. Inline policy documents come back decoded (IAM sends
    /// them URL-encoded).
    pub async fn user_holdings(&self, user_name: &str) -> Result<Option<UserHoldings>, AwsError> {
        let user = match self.iam.get_user().user_name(user_name).send().await {
            Ok(out) => out.user,
            Err(e) => {
                let err = self.sdk_error("iam:GetUser", e);
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let attached = self
            .iam
            .list_attached_user_policies()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error("iam:ListAttachedUserPolicies", e))?;
        let inline_names = self
            .iam
            .list_user_policies()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error("iam:ListUserPolicies", e))?;
        let mut inline_policies = Vec::with_capacity(inline_names.len());
        for name in inline_names {
            let policy = self
                .iam
                .get_user_policy()
                .user_name(user_name)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| self.sdk_error("iam:GetUserPolicy", e))?;
            let document = percent_encoding::percent_decode_str(&policy.policy_document)
                .decode_utf8_lossy()
                .into_owned();
            inline_policies.push((name, document));
        }
        let groups = self
            .iam
            .list_groups_for_user()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error("iam:ListGroupsForUser", e))?;
        let login_profile = match self
            .iam
            .get_login_profile()
            .user_name(user_name)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => {
                let err = self.sdk_error("iam:GetLoginProfile", e);
                if err.is_not_found() {
                    false
                } else {
                    return Err(err);
                }
            }
        };
        let access_keys = self
            .list_access_keys(user_name)
            .await?
            .into_iter()
            .map(|key| key.access_key_id)
            .collect();
        Ok(Some(UserHoldings {
            attached_policies: attached
                .into_iter()
                .filter_map(|policy| policy.policy_arn)
                .collect(),
            inline_policies,
            groups: groups.into_iter().map(|group| group.group_name).collect(),
            permissions_boundary: user
                .and_then(|user| user.permissions_boundary)
                .and_then(|boundary| boundary.permissions_boundary_arn),
            login_profile,
            access_keys,
        }))
    }

    /// Deletes an IAM-user canary and everything IAM requires gone first: its access keys,
    /// inline policies, attached managed policies, console password (if anyone set one) and
    /// permissions boundary. Safe to repeat: a user that does not exist is
    /// [`Deletion::AlreadyAbsent`].
    pub async fn delete_iam_user_canary(&self, user_name: &str) -> Result<Deletion, AwsError> {
        let user = match self.iam.get_user().user_name(user_name).send().await {
            Ok(out) => out.user,
            Err(e) => {
                let err = self.sdk_error("iam:GetUser", e);
                return if err.is_not_found() {
                    Ok(Deletion::AlreadyAbsent)
                } else {
                    Err(err)
                };
            }
        };

        for key in self.list_access_keys(user_name).await? {
            self.delete_access_key(user_name, &key.access_key_id)
                .await?;
        }

        let inline = self
            .iam
            .list_user_policies()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error("iam:ListUserPolicies", e))?;
        for policy_name in inline {
            let deleted = self
                .iam
                .delete_user_policy()
                .user_name(user_name)
                .policy_name(&policy_name)
                .send()
                .await
                .map_err(|e| self.sdk_error("iam:DeleteUserPolicy", e));
            ignore_not_found(deleted)?;
        }

        let attached = self
            .iam
            .list_attached_user_policies()
            .user_name(user_name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| self.sdk_error("iam:ListAttachedUserPolicies", e))?;
        for policy in attached {
            let detached = self
                .iam
                .detach_user_policy()
                .user_name(user_name)
                .set_policy_arn(policy.policy_arn)
                .send()
                .await
                .map_err(|e| self.sdk_error("iam:DetachUserPolicy", e));
            ignore_not_found(detached)?;
        }

        // tripkey never sets a password, but someone may have since; IAM refuses to delete a
        // user that still has one.
        let no_login = self
            .iam
            .delete_login_profile()
            .user_name(user_name)
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:DeleteLoginProfile", e));
        ignore_not_found(no_login)?;

        // Only when GetUser reports a boundary: some IAM emulators (moto) do not implement
        // user boundaries at all, and answer this call with a server error.
        if user
            .as_ref()
            .is_some_and(|u| u.permissions_boundary.is_some())
        {
            let unbound = self
                .iam
                .delete_user_permissions_boundary()
                .user_name(user_name)
                .send()
                .await
                .map_err(|e| self.sdk_error("iam:DeleteUserPermissionsBoundary", e));
            ignore_not_found(unbound)?;
        }

        let deleted = self
            .iam
            .delete_user()
            .user_name(user_name)
            .send()
            .await
            .map_err(|e| self.sdk_error("iam:DeleteUser", e));
        ignore_not_found(deleted)?;
        tracing::info!(user = user_name, "deleted IAM user canary");
        Ok(Deletion::Deleted)
    }
}

/// A delete whose target is already gone has done its job: another revocation got there first.
fn ignore_not_found<T>(result: Result<T, AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}
