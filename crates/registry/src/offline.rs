//! The offline issuer: format-valid keys for a chosen account, minted locally. They
//! authenticate nowhere, so they are for `demo` and tests only, and every listing says so.

use std::sync::Mutex;

use keys::{AccountId, KeyKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::{CanaryKind, CanaryRecord, Secret};

use crate::issuer::{IssueError, IssueRequest, Issued, Issuer};

/// The role whose sessions offline role-session canaries pretend to be.
const DECOY_ROLE: &str = "deploy-readonly";

/// Mints format-valid credentials for one account without calling AWS.
pub struct OfflineIssuer {
    account: AccountId,
    rng: Mutex<StdRng>,
}

impl OfflineIssuer {
    /// An issuer for `account`, with fresh randomness.
    pub fn new(account: AccountId) -> OfflineIssuer {
        OfflineIssuer {
            account,
            rng: Mutex::new(StdRng::from_os_rng()),
        }
    }

    /// An issuer whose keys repeat for the same seed (tests, the demo).
    pub fn seeded(account: AccountId, seed: u64) -> OfflineIssuer {
        OfflineIssuer {
            account,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    fn principal_arn(&self, request: &IssueRequest) -> String {
        let account = self.account;
        match request.kind {
            CanaryKind::IamUser => {
                format!(
                    "arn:aws:iam::{account}:user{}{}",
                    request.path, request.name
                )
            }
            CanaryKind::Federation => {
                format!("arn:aws:sts::{account}:federated-user/{}", request.name)
            }
            CanaryKind::RoleSession => format!(
                "arn:aws:sts::{account}:assumed-role/{DECOY_ROLE}/{}",
                request.name
            ),
        }
    }
}

impl Issuer for OfflineIssuer {
    fn issuer(&self) -> store::Issuer {
        store::Issuer::Offline
    }

    async fn account_id(&self) -> Result<AccountId, IssueError> {
        Ok(self.account)
    }

    async fn issue(&self, request: &IssueRequest) -> Result<Issued, IssueError> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let (key_kind, session_token) = match request.kind {
            CanaryKind::IamUser => (KeyKind::LongTerm, None),
            CanaryKind::Federation | CanaryKind::RoleSession => {
                let token: String = (0..356)
                    .map(|_| char::from(rng.random_range(b'A'..=b'Z')))
                    .collect();
                (KeyKind::Temporary, Some(Secret::new(token)))
            }
        };
        let access_key_id = keys::mint_access_key_id(key_kind, self.account, &mut *rng);
        let secret = keys::mint_secret_access_key(&mut *rng);
        let expires_at = session_token
            .as_ref()
            .map(|_| store::now().offset(i64::from(request.duration_seconds) * 1_000));
        Ok(Issued {
            access_key_id: access_key_id.as_str().to_owned(),
            secret_access_key: Secret::new(secret),
            session_token,
            principal_arn: self.principal_arn(request),
            expires_at,
        })
    }

    async fn add_key(&self, canary: &CanaryRecord) -> Result<Issued, IssueError> {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let access_key_id = keys::mint_access_key_id(KeyKind::LongTerm, self.account, &mut *rng);
        Ok(Issued {
            access_key_id: access_key_id.as_str().to_owned(),
            secret_access_key: Secret::new(keys::mint_secret_access_key(&mut *rng)),
            session_token: None,
            principal_arn: canary.principal_arn.clone(),
            expires_at: None,
        })
    }

    async fn delete_key(
        &self,
        _canary: &CanaryRecord,
        _access_key_id: &str,
    ) -> Result<(), IssueError> {
        Ok(())
    }

    async fn revoke(&self, _canary: &CanaryRecord) -> Result<(), IssueError> {
        Ok(())
    }
}
