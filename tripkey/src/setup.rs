//! `tripkey setup aws`: what issuing needs in the account, created idempotently.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use tripkey_aws::{AwsClients, AwsOptions, Ensured, LeastPrivilegeScope, Outcome};

use crate::aws_issuer::{BOUNDARY_POLICY_NAME, DECOY_ROLE_NAME, FEDERATION_ISSUER_NAME};
use crate::output::DataFormat;

/// Checks the caller, ensures the boundary policy, the decoy role and the federation issuer
/// user, and prints the policy tripkey itself needs.
///
/// With `policy_out`, the policy goes to that file instead of the terminal; `format` json
/// prints one document with what was ensured and the policy.
pub fn aws(
    options: &AwsOptions,
    user_path: &str,
    policy_out: Option<&Path>,
    format: DataFormat,
) -> anyhow::Result<u8> {
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
        let boundary = clients
            .ensure_boundary_policy(BOUNDARY_POLICY_NAME)
            .await
            .context("cannot create the deny-all boundary policy")?;
        let role = clients
            .ensure_decoy_role(DECOY_ROLE_NAME, &identity.arn)
            .await
            .context("cannot create the decoy role")?;
        let issuer = clients
            .ensure_federation_issuer_user(FEDERATION_ISSUER_NAME)
            .await
            .context("cannot create the federation issuer user")?;
        let policy = tripkey_aws::least_privilege_policy_json(&LeastPrivilegeScope {
            partition: identity.partition().to_owned(),
            account_id: identity.account_id.clone(),
            user_path: user_path.to_owned(),
            boundary_policy_name: BOUNDARY_POLICY_NAME.to_owned(),
            decoy_role_name: DECOY_ROLE_NAME.to_owned(),
        });
        if let Some(path) = policy_out {
            std::fs::write(path, format!("{policy}\n"))
                .with_context(|| format!("cannot write the policy to {}", path.display()))?;
        }
        let state = |ensured: &Ensured| match ensured.outcome {
            Outcome::Created => "created",
            Outcome::AlreadyThere => "already there",
        };
        if format == DataFormat::Json {
            let policy: serde_json::Value =
                serde_json::from_str(&policy).context("the built-in policy is not JSON")?;
            let ensured = |ensured: &Ensured| {
                serde_json::json!({ "arn": ensured.arn, "outcome": state(ensured) })
            };
            crate::output::write_json(
                out,
                &serde_json::json!({
                    "caller": identity.arn,
                    "account_id": identity.account_id,
                    "boundary_policy": ensured(&boundary),
                    "decoy_role": ensured(&role),
                    "federation_issuer": ensured(&issuer),
                    "least_privilege_policy": policy,
                }),
            )?;
            return Ok(0);
        }
        writeln!(
            out,
            "caller    {} (account {})",
            identity.arn, identity.account_id
        )?;
        for (what, ensured) in [("boundary", &boundary), ("role", &role), ("issuer", &issuer)] {
            writeln!(out, "{what:<9} {} ({})", ensured.arn, state(ensured))?;
        }
        writeln!(
            out,
            "\nFederation canaries are best issued by {FEDERATION_ISSUER_NAME}, whose only \
             permission is sts:GetFederationToken: give it an access key \
             (`aws iam create-access-key --user-name {FEDERATION_ISSUER_NAME}`), store it as a \
             profile, and set `federation_profile` in the [aws] table of tripkey.toml."
        )?;
        match policy_out {
            Some(path) => writeln!(
                out,
                "\nThe least-privilege IAM policy tripkey needs to run as is in {}.",
                path.display()
            )?,
            None => writeln!(
                out,
                "\nThe least-privilege IAM policy tripkey needs to run as (--policy-out FILE \
                 writes it to a file instead):\n{policy}"
            )?,
        }
        Ok(0)
    })
}
