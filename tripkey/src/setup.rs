//! `tripkey setup aws`: what issuing needs in the account, created idempotently.

use std::io::Write;

use anyhow::Context;
use tripkey_aws::{AwsClients, AwsOptions, Ensured, LeastPrivilegeScope, Outcome};

use crate::aws_issuer::{BOUNDARY_POLICY_NAME, DECOY_ROLE_NAME, FEDERATION_ISSUER_NAME};

/// Checks the caller, ensures the boundary policy, the decoy role and the federation issuer
/// user, and prints the policy tripkey itself needs.
pub fn aws(options: &AwsOptions, user_path: &str) -> anyhow::Result<u8> {
    let runtime = crate::async_runtime()?;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    runtime.block_on(async {
        let clients = AwsClients::connect(options).await;
        let identity = clients
            .caller_identity()
            .await
            .context("cannot identify the AWS caller: check the profile and credentials")?;
        keys::refuse_vendor_account(&identity.account_id.parse()?)?;
        writeln!(
            out,
            "caller    {} (account {})",
            identity.arn, identity.account_id
        )?;
        let report = |out: &mut dyn Write, what: &str, ensured: &Ensured| {
            let state = match ensured.outcome {
                Outcome::Created => "created",
                Outcome::AlreadyThere => "already there",
            };
            writeln!(out, "{what:<9} {} ({state})", ensured.arn)
        };
        let boundary = clients
            .ensure_boundary_policy(BOUNDARY_POLICY_NAME)
            .await
            .context("cannot create the deny-all boundary policy")?;
        report(out, "boundary", &boundary)?;
        let role = clients
            .ensure_decoy_role(DECOY_ROLE_NAME, &identity.arn)
            .await
            .context("cannot create the decoy role")?;
        report(out, "role", &role)?;
        let issuer = clients
            .ensure_federation_issuer_user(FEDERATION_ISSUER_NAME)
            .await
            .context("cannot create the federation issuer user")?;
        report(out, "issuer", &issuer)?;
        let policy = tripkey_aws::least_privilege_policy_json(&LeastPrivilegeScope {
            partition: identity.partition().to_owned(),
            account_id: identity.account_id.clone(),
            user_path: user_path.to_owned(),
            boundary_policy_name: BOUNDARY_POLICY_NAME.to_owned(),
            decoy_role_name: DECOY_ROLE_NAME.to_owned(),
        });
        writeln!(
            out,
            "\nFederation canaries are best issued by {FEDERATION_ISSUER_NAME}, whose only \
             permission is sts:GetFederationToken: give it an access key \
             (`aws iam create-access-key --user-name {FEDERATION_ISSUER_NAME}`), store it as a \
             profile, and set `federation_profile` in the [aws] table of tripkey.toml."
        )?;
        writeln!(
            out,
            "\nThe least-privilege IAM policy tripkey needs to run as:\n{policy}"
        )?;
        Ok(0)
    })
}
