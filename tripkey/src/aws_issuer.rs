//! The AWS issuer: real canary credentials through IAM and STS, with `tripkey-aws`.

use keys::AccountId;
use registry::{IssueError, IssueRequest, Issued, Issuer};
use store::{CanaryKind, CanaryRecord, Secret};
use trail::EventTime;
use tripkey_aws::{AwsClients, AwsError, AwsOptions, IamUserSpec};

/// Names of what `tripkey setup aws` creates. They are neutral on purpose: whoever can list
/// the account's IAM resources should see nothing that says "canary".
pub const BOUNDARY_POLICY_NAME: &str = "workload-baseline-boundary";
/// The decoy role that role-session canaries assume.
pub const DECOY_ROLE_NAME: &str = "deploy-readonly";
/// The user allowed only `sts:GetFederationToken`.
pub const FEDERATION_ISSUER_NAME: &str = "svc-session-broker";
/// The IAM path canary users live under; tripkey's own permissions are scoped to it.
pub const DEFAULT_USER_PATH: &str = "/service/";
/// The inline deny-all policy's name.
const INLINE_POLICY_NAME: &str = "baseline";

/// Issues canaries in the account of the AWS credentials it was given.
pub struct AwsIssuer {
    clients: AwsClients,
    account: AccountId,
    partition: String,
    user_path: String,
}

impl AwsIssuer {
    /// Connects and learns the account from `sts:GetCallerIdentity`.
    pub async fn connect(options: &AwsOptions, user_path: String) -> anyhow::Result<AwsIssuer> {
        let clients = AwsClients::connect(options).await;
        let identity = clients.caller_identity().await?;
        let account = identity.account_id.parse()?;
        Ok(AwsIssuer {
            partition: identity.partition().to_owned(),
            clients,
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
                    self.clients
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
}
