//! `tripkey canary …`: issue canaries and manage the inventory, over the registry service.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use keys::AccountId;
use registry::{CanaryService, CreateRequest, Issuer, OfflineIssuer, Settings};
use store::{CanaryFilter, CanaryKind, CanaryRecord, CanaryStatus, Labels, Store};

use crate::aws_issuer::AwsIssuer;
use crate::sanitize::for_terminal;

/// Where the inventory lives and which issuer makes credentials.
#[derive(clap::Args)]
pub struct RegistryArgs {
    /// The canary database [default: ~/.local/share/tripkey/tripkey.db].
    #[arg(long, value_name = "FILE", env = "TRIPKEY_DB", global = true)]
    db: Option<PathBuf>,
    /// Mint format-valid keys locally for this 12-digit account instead of calling AWS. They
    /// authenticate nowhere: for demos and tests, and labelled offline everywhere.
    #[arg(
        long,
        value_name = "ACCOUNT",
        env = "TRIPKEY_OFFLINE_ACCOUNT",
        global = true
    )]
    offline_account: Option<AccountId>,
    /// AWS connection: profile, region and endpoint.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The IAM path canary users are created under; tripkey's own permissions are scoped to it.
    #[arg(long, value_name = "PATH", default_value = crate::aws_issuer::DEFAULT_USER_PATH, global = true)]
    user_path: String,
    /// The most IAM-user canaries one account may hold.
    #[arg(
        long,
        value_name = "N",
        env = "TRIPKEY_CAPACITY",
        default_value_t = registry::service::IAM_USERS_PER_ACCOUNT,
        global = true
    )]
    capacity: u64,
}

/// How to reach AWS.
#[derive(clap::Args)]
pub struct AwsArgs {
    /// A named profile from ~/.aws/config instead of the default credential chain.
    #[arg(long, value_name = "NAME", env = "AWS_PROFILE", global = true)]
    profile: Option<String>,
    /// The region for STS calls (IAM is global).
    #[arg(long, value_name = "REGION", env = "AWS_REGION", global = true)]
    region: Option<String>,
    /// Another AWS endpoint, e.g. a moto or LocalStack server.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The connection options for `tripkey-aws`.
    pub fn options(&self) -> tripkey_aws::AwsOptions {
        tripkey_aws::AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            credentials: None,
        }
    }
}

/// The kinds of canary, as written on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// A long-term IAM user access key (AKIA…).
    IamUser,
    /// Short-term credentials from GetFederationToken (up to 36 h, renewed).
    Federation,
    /// Short-term credentials of a session on a decoy role (up to 12 h, renewed).
    RoleSession,
}

impl From<KindArg> for CanaryKind {
    fn from(kind: KindArg) -> CanaryKind {
        match kind {
            KindArg::IamUser => CanaryKind::IamUser,
            KindArg::Federation => CanaryKind::Federation,
            KindArg::RoleSession => CanaryKind::RoleSession,
        }
    }
}

/// How `canary create` hands out the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CredentialFormat {
    /// A `~/.aws/credentials` profile.
    Credentials,
    /// `export AWS_…=` lines for a shell or an env file.
    Env,
    /// One JSON object with the record and the secret.
    Json,
}

/// `tripkey canary` subcommands.
#[derive(Subcommand)]
pub enum CanaryCommand {
    /// Issue a canary and print its credentials (shown once: the secret is not stored).
    Create {
        /// What kind of credential to issue.
        #[arg(long, value_enum, default_value_t = KindArg::IamUser)]
        kind: KindArg,
        /// Where it will be planted, as key=value (repeatable): owner, host, location, ….
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// A note shown with every alert, e.g. where exactly it was planted.
        #[arg(long)]
        memo: Option<String>,
        /// Output format of the credentials.
        #[arg(long, value_enum, default_value_t = CredentialFormat::Credentials)]
        format: CredentialFormat,
        /// Profile name for `--format credentials`.
        #[arg(long, default_value = "default")]
        profile: String,
    },
    /// List canaries.
    List {
        /// Only canaries in this status (active, expired, revoked, triggered).
        #[arg(long)]
        status: Option<CanaryStatus>,
        /// Only canaries of this kind.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Only canaries in this account.
        #[arg(long)]
        account: Option<String>,
        /// Only canaries with this label (repeatable; all must match).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one canary and its history.
    Show {
        /// The canary's id or name.
        canary: String,
    },
    /// Delete a canary's credentials for good; the record and its history stay.
    Revoke {
        /// The canary's id or name.
        canary: String,
        /// Why, for the history.
        #[arg(long, default_value = "revoked by hand")]
        reason: String,
    },
    /// Say what an attacker's offline tools would conclude about a canary.
    Check {
        /// The canary's id or name.
        canary: String,
    },
    /// IAM-user canaries held per account, against the limit.
    Capacity,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Runs a `tripkey canary` subcommand.
pub fn run(args: RegistryArgs, command: CanaryCommand) -> anyhow::Result<u8> {
    let runtime = crate::async_runtime()?;
    runtime.block_on(run_async(args, command))
}

async fn run_async(args: RegistryArgs, command: CanaryCommand) -> anyhow::Result<u8> {
    let path = match args.db {
        Some(path) => path,
        None => store::default_path()
            .context("no home folder to keep the canary database in: pass --db FILE")?,
    };
    let store = Store::open(&path).await?;
    let settings = Settings {
        capacity_per_account: args.capacity,
        ..Settings::default()
    };
    match args.offline_account {
        Some(account) => {
            let issuer = OfflineIssuer::new(account);
            execute(CanaryService::new(store, issuer, settings), command).await
        }
        None => {
            let issuer = AwsIssuer::connect(&args.aws.options(), args.user_path)
                .await
                .context("cannot reach AWS to issue canaries (or pass --offline-account ACCOUNT for offline ones)")?;
            execute(CanaryService::new(store, issuer, settings), command).await
        }
    }
}

async fn execute<I: Issuer>(
    service: CanaryService<I>,
    command: CanaryCommand,
) -> anyhow::Result<u8> {
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        CanaryCommand::Create {
            kind,
            labels,
            memo,
            format,
            profile,
        } => {
            let created = service
                .create(CreateRequest {
                    kind: kind.into(),
                    labels: labels.into_iter().collect::<Labels>(),
                    memo,
                })
                .await?;
            print_credentials(out, &created, format, &profile)?;
            eprintln!(
                "issued {} canary {} ({}){}",
                created.record.kind,
                created.record.name,
                created.record.id,
                if created.record.issuer.is_offline() {
                    " by the offline issuer: it authenticates nowhere"
                } else {
                    ""
                }
            );
        }
        CanaryCommand::List {
            status,
            kind,
            account,
            labels,
            json,
        } => {
            let filter = CanaryFilter {
                status,
                kind: kind.map(Into::into),
                account_id: account,
                issuer: None,
                labels,
            };
            let canaries = service.list(&filter).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&canaries)?)?;
            } else {
                print_table(out, &canaries)?;
            }
        }
        CanaryCommand::Show { canary } => {
            let record = service.find(&canary).await?;
            let history = service.store().history(&record.id).await?;
            print_table(out, std::slice::from_ref(&record))?;
            writeln!(out, "\nprincipal  {}", for_terminal(&record.principal_arn))?;
            if let Some(memo) = &record.memo {
                writeln!(out, "memo       {}", for_terminal(memo))?;
            }
            writeln!(out, "\nhistory:")?;
            for event in history {
                writeln!(
                    out,
                    "  {}  {:<11} {}",
                    event.at,
                    event.kind.as_str(),
                    event.detail
                )?;
            }
        }
        CanaryCommand::Revoke { canary, reason } => {
            let record = service.revoke(&canary, &reason).await?;
            writeln!(out, "revoked {} ({})", record.name, record.id)?;
        }
        CanaryCommand::Check { canary } => {
            let (record, report) = service.check(&canary).await?;
            writeln!(out, "{} ({})", record.name, record.id)?;
            writeln!(out, "{report}")?;
            return Ok(if report.flagged() { 1 } else { 0 });
        }
        CanaryCommand::Capacity => {
            let canaries = service.list(&CanaryFilter::default()).await?;
            let mut accounts: Vec<&str> = canaries.iter().map(|c| c.account_id.as_str()).collect();
            accounts.sort_unstable();
            accounts.dedup();
            if accounts.is_empty() {
                writeln!(out, "no canaries yet")?;
            }
            for account in accounts {
                let (held, limit) = service.capacity(account).await?;
                writeln!(out, "{account}  {held} of {limit} IAM-user canaries")?;
            }
        }
    }
    Ok(0)
}

fn print_credentials(
    out: &mut dyn Write,
    created: &registry::Created,
    format: CredentialFormat,
    profile: &str,
) -> io::Result<()> {
    let credentials = &created.credentials;
    let key = &credentials.access_key_id;
    let secret = credentials.secret_access_key.expose();
    let token = credentials
        .session_token
        .as_ref()
        .map(|token| token.expose());
    match format {
        CredentialFormat::Credentials => {
            writeln!(out, "[{profile}]")?;
            writeln!(out, "aws_access_key_id = {key}")?;
            writeln!(out, "aws_secret_access_key = {secret}")?;
            if let Some(token) = token {
                writeln!(out, "aws_session_token = {token}")?;
            }
        }
        CredentialFormat::Env => {
            writeln!(out, "export AWS_ACCESS_KEY_ID={key}")?;
            writeln!(out, "export AWS_SECRET_ACCESS_KEY={secret}")?;
            if let Some(token) = token {
                writeln!(out, "export AWS_SESSION_TOKEN={token}")?;
            }
        }
        CredentialFormat::Json => {
            let document = serde_json::json!({
                "canary": created.record,
                "access_key_id": key,
                "secret_access_key": secret,
                "session_token": token,
            });
            writeln!(out, "{document:#}")?;
        }
    }
    Ok(())
}

fn print_table(out: &mut dyn Write, canaries: &[CanaryRecord]) -> io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<12}  {:<7}  {:<12}  {:<32}  {:<20}  {:<9}  LABELS",
        "ID", "KIND", "ISSUER", "ACCOUNT", "NAME", "ACCESS KEY", "STATUS"
    )?;
    for canary in canaries {
        let labels: Vec<String> = canary
            .labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        writeln!(
            out,
            "{:<10}  {:<12}  {:<7}  {:<12}  {:<32}  {:<20}  {:<9}  {}",
            canary.id.as_str(),
            canary.kind.as_str(),
            canary.issuer.as_str(),
            canary.account_id,
            for_terminal(&canary.name),
            canary.access_key_id,
            canary.status.as_str(),
            for_terminal(&labels.join(" "))
        )?;
    }
    Ok(())
}
