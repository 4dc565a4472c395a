//! The AWS issuer: real canary credentials through IAM and STS, with `tripkey-aws`.

use keys::AccountId;
use registry::{
    IssueError, IssueRequest, Issued, Issuer, KeyUse, ReportedKey, UsageLookup, UserUsage,
};
use store::{CanaryKind, CanaryRecord, Secret};
use trail::EventTime;
use tripkey_aws::{AwsClients, AwsError, AwsOptions, IamUserSpec, LastUsed};

use detect::integrity::{IamHoldings, INLINE_POLICY_NAME};
/// Names of what `tripkey setup aws` creates, from the detectors, which watch them for drift.
/// They are neutral on purpose: whoever can list the account's IAM resources should see
/// nothing that says "canary".
pub use detect::integrity::{BOUNDARY_POLICY_NAME, DECOY_ROLE_NAME};
/// The user allowed only `sts:GetFederationToken`.
pub const FEDERATION_ISSUER_NAME: &str = "svc-session-broker";
/// The IAM path canary users live under; tripkey's own permissions are scoped to it.
pub const DEFAULT_USER_PATH: &str = "/service/";

/// Issues canaries in the account of the AWS credentials it was given.
pub struct AwsIssuer {
    clients: AwsClients,
    /// The federation issuer user's session, when its keys are configured: a token it issues
    /// can do nothing its one permission (`sts:GetFederationToken`) does not allow, whatever
    /// the session policy says.
    federation: Option<AwsClients>,
    account: AccountId,
    partition: String,
    user_path: String,
}

impl AwsIssuer {
    /// Connects and learns the account from `sts:GetCallerIdentity`. Federation tokens are
    /// issued with `federation` (the federation issuer user's profile) when given, else with
    /// the main credentials.
    pub async fn connect(
        options: &AwsOptions,
        federation: Option<&AwsOptions>,
        user_path: String,
    ) -> anyhow::Result<AwsIssuer> {
        let clients = AwsClients::connect(options).await;
        let identity = clients.caller_identity().await?;
        let account = identity.account_id.parse()?;
        let federation = match federation {
            Some(options) => {
                let clients = AwsClients::connect(options).await;
                let broker = clients.caller_identity().await?;
                anyhow::ensure!(
                    broker.account_id == identity.account_id,
                    "the federation profile belongs to account {}, but canaries are issued in {}: \
                     use the keys of the {FEDERATION_ISSUER_NAME} user that `tripkey setup aws` made",
                    broker.account_id,
                    identity.account_id
                );
                Some(clients)
            }
            None => None,
        };
        Ok(AwsIssuer {
            partition: identity.partition().to_owned(),
            clients,
            federation,
            account,
            user_path,
        })
    }

    fn boundary_policy_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:policy/{BOUNDARY_POLICY_NAME}",
            self.partition, self.account
        )
    }

    fn decoy_role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{DECOY_ROLE_NAME}",
            self.partition, self.account
        )
    }
}

fn issue_error(error: AwsError) -> IssueError {
    match error {
        AwsError::LimitExceeded { .. } => IssueError::LimitExceeded {
            account: String::new(),
        },
        other => IssueError::Failed(other.to_string()),
    }
}

impl Issuer for AwsIssuer {
    fn issuer(&self) -> store::Issuer {
        store::Issuer::Aws
    }

    fn fixed_user_path(&self) -> Option<&str> {
        Some(&self.user_path)
    }

    async fn account_id(&self) -> Result<AccountId, IssueError> {
        Ok(self.account)
    }

    async fn issue(&self, request: &IssueRequest) -> Result<Issued, IssueError> {
        let duration = i32::try_from(request.duration_seconds).unwrap_or(i32::MAX);
        match request.kind {
            CanaryKind::IamUser => {
                let key = self
                    .clients
                    .create_iam_user_canary(&IamUserSpec {
                        name: request.name.clone(),
                        path: request.path.clone(),
                        tags: vec![("team".to_owned(), "platform".to_owned())],
                        boundary_policy_arn: Some(self.boundary_policy_arn()),
                        inline_policy_name: INLINE_POLICY_NAME.to_owned(),
                    })
                    .await
                    .map_err(|error| match error {
                        AwsError::LimitExceeded { .. } => IssueError::LimitExceeded {
                            account: self.account.to_string(),
                        },
                        other => issue_error(other),
                    })?;
                Ok(Issued {
                    access_key_id: key.access_key_id,
                    secret_access_key: Secret::new(key.secret_access_key.expose()),
                    session_token: None,
                    principal_arn: key.user_arn,
                    expires_at: None,
                })
            }
            CanaryKind::Federation | CanaryKind::RoleSession => {
                let session = if request.kind == CanaryKind::Federation {
                    self.federation
                        .as_ref()
                        .unwrap_or(&self.clients)
                        .get_federation_token(&request.name, duration)
                        .await
                } else {
                    self.clients
                        .assume_role_canary(&self.decoy_role_arn(), &request.name, duration)
                        .await
                }
                .map_err(issue_error)?;
                Ok(Issued {
                    access_key_id: session.access_key_id,
                    secret_access_key: Secret::new(session.secret_access_key.expose()),
                    session_token: Some(Secret::new(session.session_token.expose())),
                    principal_arn: session.principal_arn,
                    expires_at: Some(EventTime::from(session.expiration)),
                })
            }
        }
    }

    async fn add_key(&self, canary: &CanaryRecord) -> Result<Issued, IssueError> {
        let key = self
            .clients
            .create_access_key(&canary.name)
            .await
            .map_err(issue_error)?;
        Ok(Issued {
            access_key_id: key.access_key_id,
            secret_access_key: Secret::new(key.secret_access_key.expose()),
            session_token: None,
            principal_arn: key.user_arn,
            expires_at: None,
        })
    }

    async fn delete_key(
        &self,
        canary: &CanaryRecord,
        access_key_id: &str,
    ) -> Result<(), IssueError> {
        self.clients
            .delete_access_key(&canary.name, access_key_id)
            .await
            .map_err(issue_error)
    }

    async fn revoke(&self, canary: &CanaryRecord) -> Result<(), IssueError> {
        // Short-term credentials cannot be recalled; they lapse at their expiry and are not
        // renewed once the canary is revoked.
        if canary.kind == CanaryKind::IamUser {
            self.clients
                .delete_iam_user_canary(&canary.name)
                .await
                .map_err(issue_error)?;
        }
        Ok(())
    }

    async fn holdings(&self, canary: &CanaryRecord) -> Result<Option<IamHoldings>, IssueError> {
        if canary.kind != CanaryKind::IamUser {
            return Ok(None);
        }
        let holdings = self
            .clients
            .user_holdings(&canary.name)
            .await
            .map_err(issue_error)?;
        Ok(holdings.map(|held| IamHoldings {
            attached_policies: held.attached_policies,
            inline_policies: held.inline_policies,
            groups: held.groups,
            permissions_boundary: held.permissions_boundary,
            login_profile: held.login_profile,
            access_keys: held.access_keys,
        }))
    }
}

fn key_use(used: LastUsed) -> KeyUse {
    KeyUse {
        at: EventTime::from(used.at),
        service: used.service_name,
        region: used.region,
    }
}

impl UsageLookup for AwsIssuer {
    async fn key_last_used(&self, access_key_id: &str) -> Result<Option<KeyUse>, IssueError> {
        match self.clients.access_key_last_used(access_key_id).await {
            Ok(used) => Ok(used.map(key_use)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(issue_error(error)),
        }
    }

    async fn credential_report(&self) -> Result<Vec<UserUsage>, IssueError> {
        let rows = self
            .clients
            .credential_report()
            .await
            .map_err(issue_error)?;
        Ok(rows
            .into_iter()
            .map(|row| UserUsage {
                user_name: row.user,
                keys: row
                    .access_keys
                    .into_iter()
                    .filter(|slot| slot.active || slot.last_used.is_some())
                    .map(|slot| ReportedKey {
                        created_at: slot.last_rotated.map(EventTime::from),
                        last_used: slot.last_used.map(key_use),
                    })
                    .collect(),
            })
            .collect())
    }
}
