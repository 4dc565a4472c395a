//! `tripkey canary …`: issue canaries and manage the inventory, over the registry service.
//!
//! Only the commands that change credentials reach an issuer: `create`, `rotate`, `revoke`,
//! `maintain` and `poll`. Listing, showing, checking and counting read the database alone, so
//! they work offline, with no AWS credentials, and never create a database.

use std::io::{self, Write};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use detect::Span;
use keys::AccountId;
use registry::{
    CanaryService, CreateRequest, Inventory, Issuer, OfflineIssuer, Settings, UsageLookup,
};
use store::{
    CanaryFilter, CanaryKind, CanaryRecord, CanaryStatus, Labels, Location, SecretKey, Store,
};

use crate::admin::StoreArgs;
use crate::aws_issuer::AwsIssuer;
use crate::config::{AwsConfig, Config, NameStyleSetting};
use crate::output::{self, DataFormat, Format, FormatArgs};
use notify::escape::for_terminal;

/// How to reach AWS.
#[derive(clap::Args, Clone, Debug)]
pub struct AwsArgs {
    /// A named profile from the AWS config files instead of the default credential chain.
    #[arg(long, value_name = "NAME", env = "AWS_PROFILE")]
    profile: Option<String>,
    /// The AWS region to call (IAM is global; STS, SNS, S3 and SQS are regional)
    /// [default: `[aws] region`, else the profile's region].
    #[arg(long, value_name = "REGION", env = "AWS_REGION")]
    region: Option<String>,
    /// Another AWS endpoint, e.g. a moto or LocalStack server.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The region the flags, the environment or `[aws]` name, for planted credentials.
    pub fn region(&self, config: &AwsConfig) -> Option<String> {
        self.region.clone().or_else(|| config.region.clone())
    }

    /// The connection options for `tripkey-aws`: flags and environment, else `[aws]`.
    pub fn options_with(&self, config: &AwsConfig) -> tripkey_aws::AwsOptions {
        config.options_over(
            self.profile.clone(),
            self.region.clone(),
            self.endpoint_url.clone(),
        )
    }
}

/// What the AWS issuer needs: the connection, the federation issuer's profile and the IAM
/// path canary users live under.
#[derive(clap::Args, Clone, Debug)]
pub struct AwsIssuerArgs {
    /// AWS connection: profile, region and endpoint.
    #[command(flatten)]
    aws: AwsArgs,
    /// The profile with the keys of the federation issuer user `tripkey setup aws` made;
    /// federation canaries are issued with it [default: the main credentials].
    #[arg(long, value_name = "NAME", env = "TRIPKEY_FEDERATION_PROFILE")]
    federation_profile: Option<String>,
    /// The IAM path canary users are created under; tripkey's own permissions are scoped to it
    /// [default: `[canary] user_path`, else /service/].
    #[arg(long, value_name = "PATH")]
    user_path: Option<String>,
}

/// Which issuer makes new credentials: AWS, or the offline issuer for one account.
#[derive(clap::Args, Clone, Debug)]
pub struct IssuerArgs {
    /// Mint format-valid keys locally for this 12-digit account instead of calling AWS. They
    /// authenticate nowhere: for demos and tests, and labelled offline everywhere.
    #[arg(long, value_name = "ACCOUNT", env = "TRIPKEY_OFFLINE_ACCOUNT")]
    offline_account: Option<AccountId>,
    #[command(flatten)]
    aws: AwsIssuerArgs,
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

/// How `canary create` and `canary rotate` hand out the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CredentialFormat {
    /// A named profile for the AWS shared credentials file, safe to append to it.
    Credentials,
    /// `export AWS_…=` lines for a shell or an env file.
    Env,
    /// One JSON object with the record and the credentials.
    Json,
}

/// `tripkey canary` subcommands.
#[derive(Subcommand)]
pub enum CanaryCommand {
    /// Issue a canary and print its credentials (shown once: the secret is not stored).
    ///
    /// The default output is a named profile, with a plausible generated name and a leading
    /// blank line, so it can be appended to a credentials file that holds other profiles.
    #[command(after_help = "Examples:
  tripkey canary create --offline-account 111122223333 --label host=laptop-42
  tripkey canary create --label owner=platform --memo 'CI runner secrets' >> ~/.aws/credentials
  tripkey canary create --kind federation --format env > canary.env")]
    Create {
        /// What kind of credential to issue.
        #[arg(long, value_enum, default_value_t = KindArg::IamUser)]
        kind: KindArg,
        /// Where it will be planted, as key=value (repeatable): owner, host, location, ….
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = registry::service::label_pair)]
        labels: Vec<(String, String)>,
        /// A note shown with every alert, e.g. where exactly it was planted.
        #[arg(long)]
        memo: Option<String>,
        /// The canary's name (the IAM user, federated user or role session name) instead of a
        /// generated one: 2-32 characters of letters, digits and _+=,.@-. A warning says which
        /// stealth check it fails, if any.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Output format of the credentials.
        #[arg(long, value_enum, default_value_t = CredentialFormat::Credentials)]
        format: CredentialFormat,
        /// Profile name for `--format credentials` [default: a plausible generated name].
        #[arg(long, value_name = "NAME")]
        profile_name: Option<String>,
        /// Keep the secret, encrypted with the store's secret key (`TRIPKEY_SECRET_KEY` or
        /// `[store] secret_key_file`), so it can be planted again [default: `[canary]
        /// keep_secrets`, else off].
        #[arg(long)]
        keep_secret: bool,
        /// What the generated name imitates [default: `[canary] name_style`, else service].
        #[arg(long, value_enum)]
        name_style: Option<NameStyleSetting>,
        /// The most IAM-user canaries one account may hold [default: `[canary] capacity`, else
        /// 5000].
        #[arg(long, value_name = "N", env = "TRIPKEY_CAPACITY")]
        capacity: Option<u64>,
        #[command(flatten)]
        issuer: IssuerArgs,
    },
    /// Give a canary new credentials and print them.
    ///
    /// An IAM-user canary gets a new key and its old key keeps working for the rotation grace
    /// period (`[canary] rotation_grace`, default 24h), then `tripkey canary maintain` deletes
    /// it; a short-term canary is renewed. Offline canaries are rotated offline.
    #[command(
        visible_alias = "renew",
        after_help = "Examples:
  tripkey canary rotate svc-billing-sync-07 --profile-name billing-admin
  tripkey canary renew ci-deploy-runner --format env"
    )]
    Rotate {
        /// The canary's id or name.
        canary: String,
        /// Output format of the new credentials.
        #[arg(long, value_enum, default_value_t = CredentialFormat::Credentials)]
        format: CredentialFormat,
        /// Profile name for `--format credentials` [default: a plausible generated name].
        #[arg(long, value_name = "NAME")]
        profile_name: Option<String>,
        #[command(flatten)]
        aws: AwsIssuerArgs,
    },
    /// Delete a canary's credentials for good; the record and its history stay.
    #[command(after_help = "Example:
  tripkey canary revoke svc-billing-sync-07 --reason 'laptop-42 decommissioned'")]
    Revoke {
        /// The canary's id or name.
        canary: String,
        /// Why, for the history.
        #[arg(long, default_value = "revoked by hand")]
        reason: String,
        #[command(flatten)]
        output: FormatArgs,
        #[command(flatten)]
        aws: AwsIssuerArgs,
    },
    /// One maintenance pass, for cron (`tripkey serve` runs it on its own).
    ///
    /// Renews short-term canaries due within `[canary] renew_before` (default 2h) of expiry,
    /// deletes rotated keys whose grace period is over, and marks lapsed canaries expired. New
    /// secrets are not printed; canaries created with --keep-secret keep them.
    ///
    /// It also checks each IAM-user canary's integrity: what IAM says the user holds
    /// (managed and inline policies, groups, boundary, console password, keys) against what
    /// tripkey made. Every difference is a canary-drift alert (canary-exposed when AWS has
    /// quarantined the key), listed here; `tripkey serve` stores and delivers them. Exit
    /// status 1 when it finds one, 2 when a canary could not be looked after.
    #[command(after_help = "Example (crontab):
  */10 * * * * tripkey canary maintain --format json >> /var/log/tripkey-maintain.json")]
    Maintain {
        #[command(flatten)]
        output: FormatArgs,
        #[command(flatten)]
        issuer: IssuerArgs,
    },
    /// The last-used safety net, once.
    ///
    /// Asks IAM when each IAM-user canary key was last used and alerts on uses newer than the
    /// canary's last alert, including calls CloudTrail does not log. Above `[canary]
    /// last_used_report_above` keys (default 1000) it reads the credential report instead.
    /// Exit status 1 when it alerts.
    #[command(after_help = "Example:
  tripkey canary poll --format jsonl | tee -a canary-uses.jsonl")]
    Poll {
        /// Output format of the alerts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        aws: AwsIssuerArgs,
    },
    /// List canaries, from the database alone.
    #[command(after_help = "Examples:
  tripkey canary list --status active --label host=laptop-42
  tripkey canary list --format json | jq -r '.canaries[].access_key_id'")]
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
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = registry::service::label_pair)]
        labels: Vec<(String, String)>,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Show one canary: its record, its keys and its history.
    #[command(after_help = "Example:
  tripkey canary show svc-billing-sync-07")]
    Show {
        /// The canary's id or name.
        canary: String,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Say what an attacker's offline tools would conclude about a canary, and whether it
    /// still holds only what tripkey made.
    ///
    /// For an IAM-user canary of the AWS issuer, the integrity half reads what IAM says the
    /// user holds (managed and inline policies, groups, boundary, console password, keys) and
    /// lists every difference: a canary that can act is a real key in an attacker's hands.
    /// Exit status 1 when a check would give the canary away or finds a difference.
    #[command(after_help = "Examples:
  tripkey canary check svc-billing-sync-07
  tripkey canary check svc-billing-sync-07 --no-integrity   # offline: stealth only")]
    Check {
        /// The canary's id or name.
        canary: String,
        #[command(flatten)]
        output: FormatArgs,
        /// AWS connection for the integrity half: profile, region and endpoint.
        #[command(flatten)]
        aws: AwsArgs,
        /// Skip the integrity half (it calls IAM); check stealth alone.
        #[arg(long)]
        no_integrity: bool,
    },
    /// IAM-user canaries held per account, against the limit.
    #[command(after_help = "Example:
  tripkey canary capacity --capacity 1000")]
    Capacity {
        /// The most IAM-user canaries one account may hold [default: `[canary] capacity`, else
        /// 5000].
        #[arg(long, value_name = "N", env = "TRIPKEY_CAPACITY")]
        capacity: Option<u64>,
        #[command(flatten)]
        output: FormatArgs,
    },
}

/// Runs a `tripkey canary` subcommand.
pub fn run(
    store_args: StoreArgs,
    remote: crate::remote::RemoteArgs,
    command: CanaryCommand,
) -> anyhow::Result<u8> {
    let runtime = crate::async_runtime()?;
    match remote.client()? {
        Some(client) => runtime.block_on(crate::remote::canary(client, command)),
        None => runtime.block_on(run_async(store_args, command)),
    }
}

fn seconds(span: Span) -> u32 {
    u32::try_from(span.millis() / 1_000).unwrap_or(u32::MAX)
}

/// The service settings: `[canary]` over the defaults, with the `--capacity` flag over both.
pub(crate) fn settings(capacity: Option<u64>, config: &Config) -> Settings {
    let canary = &config.canary;
    let defaults = Settings::default();
    Settings {
        capacity_per_account: capacity
            .or(canary.capacity)
            .unwrap_or(defaults.capacity_per_account),
        name_style: canary
            .name_style
            .map_or(defaults.name_style, keys::NameStyle::from),
        federation_seconds: canary
            .federation_duration
            .map_or(defaults.federation_seconds, seconds),
        role_session_seconds: canary
            .role_session_duration
            .map_or(defaults.role_session_seconds, seconds),
        renew_before: canary.renew_before.unwrap_or(defaults.renew_before),
        rotation_grace: canary.rotation_grace.unwrap_or(defaults.rotation_grace),
        after_trigger: canary.after_trigger.unwrap_or(defaults.after_trigger),
    }
}

/// The key that encrypts kept secrets: `TRIPKEY_SECRET_KEY`, else `[store] secret_key_file`.
pub(crate) fn secret_key(config: &Config) -> anyhow::Result<Option<SecretKey>> {
    let (text, origin) = match std::env::var("TRIPKEY_SECRET_KEY") {
        Ok(text) => (text, "TRIPKEY_SECRET_KEY".to_owned()),
        Err(_) => match &config.store.secret_key_file {
            Some(path) => (
                std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the secret key file {}", path.display())
                })?,
                path.display().to_string(),
            ),
            None => return Ok(None),
        },
    };
    let key = text
        .trim()
        .parse::<SecretKey>()
        .with_context(|| format!("the secret key in {origin} cannot be used"))?;
    Ok(Some(key))
}

/// The service over one issuer or the other; the commands are generic over the issuer.
enum Connected {
    Offline(CanaryService<OfflineIssuer>),
    Aws(CanaryService<AwsIssuer>),
}

/// Runs `$body` with `$service` bound to the service, whichever issuer it has.
macro_rules! with_service {
    ($connected:expr, $service:ident => $body:expr) => {
        match $connected {
            Connected::Offline($service) => $body,
            Connected::Aws($service) => $body,
        }
    };
}

/// The database a command that changes canaries writes, created when missing.
async fn open_for_writing(config: &Config, database: &Location) -> anyhow::Result<Store> {
    let mut store = database.open().await?;
    if let Some(key) = secret_key(config)? {
        store = store.with_secret_key(key);
    }
    Ok(store)
}

/// The offline account of `--offline-account`, else of `[canary] offline_account`.
fn offline_account(args: &IssuerArgs, config: &Config) -> anyhow::Result<Option<AccountId>> {
    match (args.offline_account, &config.canary.offline_account) {
        (Some(account), _) => Ok(Some(account)),
        (None, Some(text)) => Ok(Some(text.parse::<AccountId>().with_context(|| {
            format!("[canary] offline_account {text:?} is not a 12-digit account ID")
        })?)),
        (None, None) => Ok(None),
    }
}

/// Connects the AWS issuer.
async fn connect_aws(args: &AwsIssuerArgs, config: &Config) -> anyhow::Result<AwsIssuer> {
    let federation = args
        .federation_profile
        .clone()
        .or_else(|| config.aws.federation_profile.clone())
        .map(|profile| tripkey_aws::AwsOptions {
            profile: Some(profile),
            ..args.aws.options_with(&config.aws)
        });
    let user_path = args
        .user_path
        .clone()
        .or_else(|| config.canary.user_path.clone())
        .unwrap_or_else(|| crate::aws_issuer::DEFAULT_USER_PATH.to_owned());
    AwsIssuer::connect(
        &args.aws.options_with(&config.aws),
        federation.as_ref(),
        user_path,
    )
    .await
    .context(
        "cannot reach AWS to manage canaries (for canaries that need no AWS account, pass \
         --offline-account ACCOUNT)",
    )
}

/// The service for new credentials: offline when an offline account is configured, else AWS.
async fn connect(
    args: &IssuerArgs,
    config: &Config,
    store: Store,
    settings: Settings,
) -> anyhow::Result<Connected> {
    Ok(match offline_account(args, config)? {
        Some(account) => Connected::Offline(CanaryService::new(
            store,
            OfflineIssuer::new(account),
            settings,
        )),
        None => Connected::Aws(CanaryService::new(
            store,
            connect_aws(&args.aws, config).await?,
            settings,
        )),
    })
}

/// The service for an existing canary: the issuer that made it, so offline canaries are
/// rotated and revoked without AWS.
async fn connect_for(
    record: &CanaryRecord,
    args: &AwsIssuerArgs,
    config: &Config,
    store: Store,
    settings: Settings,
) -> anyhow::Result<Connected> {
    if record.issuer.is_offline() {
        let account = record.account_id.parse::<AccountId>().with_context(|| {
            format!(
                "canary {} has the account {:?}, which is not a 12-digit account ID",
                record.name, record.account_id
            )
        })?;
        return Ok(Connected::Offline(CanaryService::new(
            store,
            OfflineIssuer::new(account),
            settings,
        )));
    }
    Ok(Connected::Aws(CanaryService::new(
        store,
        connect_aws(args, config).await?,
        settings,
    )))
}

async fn run_async(store_args: StoreArgs, command: CanaryCommand) -> anyhow::Result<u8> {
    let (config, database) = store_args.location()?;
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    match command {
        CanaryCommand::List {
            status,
            kind,
            account,
            labels,
            output,
        } => {
            let store = database.open_existing().await?;
            let filter = CanaryFilter {
                status,
                kind: kind.map(Into::into),
                account_id: account,
                labels,
                ..CanaryFilter::default()
            };
            let canaries = Inventory::new(&store).list(&filter).await?;
            match output.get() {
                DataFormat::Json => {
                    output::write_json(out, &serde_json::json!({ "canaries": canaries }))?
                }
                DataFormat::Table if canaries.is_empty() => {
                    writeln!(
                        out,
                        "No canaries{}.",
                        if filter == CanaryFilter::default() {
                            " yet: `tripkey canary create` issues one"
                        } else {
                            " match these filters"
                        }
                    )?;
                }
                DataFormat::Table => print_table(out, &canaries)?,
            }
            store.close().await;
            Ok(0)
        }
        CanaryCommand::Show { canary, output } => {
            let store = database.open_existing().await?;
            let detail = Inventory::new(&store).detail(&canary).await?;
            match output.get() {
                DataFormat::Json => output::write_json(out, &detail)?,
                DataFormat::Table => print_detail(out, &detail)?,
            }
            store.close().await;
            Ok(0)
        }
        CanaryCommand::Check {
            canary,
            output,
            aws,
            no_integrity,
        } => {
            let store = database.open_existing().await?;
            let stealth = Inventory::new(&store).check(&canary).await?;
            let record = &stealth.canary;
            let in_iam = record.issuer == store::Issuer::Aws
                && record.kind == CanaryKind::IamUser
                && record.status != store::CanaryStatus::Revoked;
            let check = if no_integrity || !in_iam {
                stealth
            } else {
                let args = AwsIssuerArgs {
                    aws,
                    federation_profile: None,
                    user_path: None,
                };
                match connect_aws(&args, &config).await {
                    Ok(issuer) => {
                        CanaryService::new(store.clone(), issuer, settings(None, &config))
                            .with_integrity(stealth, store::now())
                            .await?
                    }
                    Err(error) => stealth.with_integrity(registry::IntegrityReport {
                        checked: false,
                        differences: Vec::new(),
                        error: Some(format!(
                            "cannot reach AWS: {error:#}; give --profile or --endpoint-url, or \
                             pass --no-integrity to check stealth alone"
                        )),
                    }),
                }
            };
            match output.get() {
                DataFormat::Json => output::write_json(out, &check)?,
                DataFormat::Table => {
                    writeln!(
                        out,
                        "{} ({})",
                        for_terminal(&check.canary.name),
                        check.canary.id
                    )?;
                    writeln!(out, "{}", check.report)?;
                    if let Some(integrity) = &check.integrity {
                        print_integrity(out, integrity)?;
                        if !integrity.differences.is_empty() {
                            writeln!(out, "{}", for_terminal(&check.verdict))?;
                        }
                    }
                }
            }
            store.close().await;
            Ok(if check.flagged { crate::EXIT_ALERTS } else { 0 })
        }
        CanaryCommand::Capacity { capacity, output } => {
            let store = database.open_existing().await?;
            let limit = settings(capacity, &config).capacity_per_account;
            let accounts = Inventory::new(&store).capacity_by_account(limit).await?;
            match output.get() {
                DataFormat::Json => {
                    output::write_json(out, &serde_json::json!({ "accounts": accounts }))?
                }
                DataFormat::Table if accounts.is_empty() => {
                    writeln!(out, "No canaries yet: `tripkey canary create` issues one.")?;
                }
                DataFormat::Table => {
                    writeln!(out, "{:<12}  {:>6}  {:>6}", "ACCOUNT", "HELD", "LIMIT")?;
                    for account in &accounts {
                        writeln!(
                            out,
                            "{:<12}  {:>6}  {:>6}",
                            account.account_id, account.held, account.limit
                        )?;
                    }
                }
            }
            store.close().await;
            Ok(0)
        }
        CanaryCommand::Create {
            kind,
            labels,
            memo,
            name,
            format,
            profile_name,
            keep_secret,
            name_style,
            capacity,
            issuer,
        } => {
            let mut settings = settings(capacity, &config);
            if let Some(style) = name_style {
                settings.name_style = style.into();
            }
            let store = open_for_writing(&config, &database).await?;
            let request = CreateRequest {
                kind: kind.into(),
                labels: labels.into_iter().collect::<Labels>(),
                memo,
                keep_secret: keep_secret || config.canary.keep_secrets,
                name,
                issued_by: None,
            };
            let connected = connect(&issuer, &config, store, settings).await?;
            let created = with_service!(&connected, service => service.create(request).await?);
            for finding in &created.name_findings {
                eprintln!("warning: {}", for_terminal(finding));
            }
            let region = issuer.aws.aws.region(&config.aws);
            print_credentials(
                out,
                &created.record,
                &created.credentials,
                format,
                profile_name.as_deref(),
                region.as_deref().unwrap_or(DEFAULT_REGION),
            )?;
            eprintln!(
                "issued {} canary {} ({}){}",
                created.record.kind,
                for_terminal(&created.record.name),
                created.record.id,
                if created.record.issuer.is_offline() {
                    " by the offline issuer: it authenticates nowhere"
                } else {
                    ""
                }
            );
            Ok(0)
        }
        CanaryCommand::Rotate {
            canary,
            format,
            profile_name,
            aws,
        } => {
            let store = database.open_existing().await?;
            let store = match secret_key(&config)? {
                Some(key) => store.with_secret_key(key),
                None => store,
            };
            let record = Inventory::new(&store).find(&canary).await?;
            let connected =
                connect_for(&record, &aws, &config, store, settings(None, &config)).await?;
            let replaced = with_service!(&connected, service => service.rotate(&canary).await?);
            let region = aws.aws.region(&config.aws);
            print_credentials(
                out,
                &replaced.record,
                &replaced.credentials,
                format,
                profile_name.as_deref(),
                region.as_deref().unwrap_or(DEFAULT_REGION),
            )?;
            for key in &replaced.deleted_early {
                eprintln!(
                    "deleted {key}, left over from an earlier rotation (IAM allows two keys)"
                );
            }
            if replaced.record.kind == CanaryKind::IamUser {
                eprintln!(
                    "rotated {}: plant the new key; the old key {} keeps working until the grace \
                     period ends and `tripkey canary maintain` deletes it",
                    for_terminal(&replaced.record.name),
                    replaced.replaced_key
                );
            } else {
                eprintln!(
                    "renewed {}: plant the new credentials; the old ones lapse at their expiry",
                    for_terminal(&replaced.record.name)
                );
            }
            Ok(0)
        }
        CanaryCommand::Revoke {
            canary,
            reason,
            output,
            aws,
        } => {
            let store = database.open_existing().await?;
            let record = Inventory::new(&store).find(&canary).await?;
            let revocation = if record.status == CanaryStatus::Revoked {
                // Nothing is left to delete, so no issuer needs to be reached to say so.
                registry::Revocation {
                    canary: record,
                    already_revoked: true,
                }
            } else {
                let connected =
                    connect_for(&record, &aws, &config, store, settings(None, &config)).await?;
                with_service!(&connected, service => service.revoke(&canary, &reason).await?)
            };
            match output.get() {
                DataFormat::Json => output::write_json(out, &revocation)?,
                DataFormat::Table => writeln!(
                    out,
                    "{} {} ({})",
                    if revocation.already_revoked {
                        "already revoked:"
                    } else {
                        "revoked"
                    },
                    for_terminal(&revocation.canary.name),
                    revocation.canary.id
                )?,
            }
            Ok(0)
        }
        CanaryCommand::Maintain { output, issuer } => {
            let store = open_for_writing(&config, &database).await?;
            let connected = connect(&issuer, &config, store, settings(None, &config)).await?;
            let done = with_service!(&connected, service => service.maintain(store::now()).await?);
            match output.get() {
                DataFormat::Json => output::write_json(out, &maintenance_json(&done))?,
                DataFormat::Table => print_maintenance(out, &done)?,
            }
            for (name, error) in &done.failures {
                eprintln!(
                    "error: {}: {}",
                    for_terminal(name),
                    for_terminal(&error.to_string())
                );
            }
            Ok(if !done.failures.is_empty() {
                crate::EXIT_USAGE
            } else if !done.integrity_alerts.is_empty() {
                crate::EXIT_ALERTS
            } else {
                0
            })
        }
        CanaryCommand::Poll { format, aws } => {
            let store = open_for_writing(&config, &database).await?;
            let service = CanaryService::new(
                store,
                connect_aws(&aws, &config).await?,
                settings(None, &config),
            );
            let report_above = config
                .canary
                .last_used_report_above
                .unwrap_or(registry::DEFAULT_REPORT_ABOVE);
            poll(&service, service.issuer(), report_above, format, out).await
        }
    }
}

async fn poll<I: Issuer, L: UsageLookup>(
    service: &CanaryService<I>,
    lookup: &L,
    report_above: usize,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let poll = service.poll_last_used(lookup, report_above).await?;
    let alerts: Vec<detect::Alert> = poll.trips.iter().map(|trip| trip.alert.clone()).collect();
    output::write_alerts(out, &alerts, format)?;
    out.flush()?;
    // Recorded only once written out, so a crash in between reports the use again rather
    // than losing it.
    for trip in &poll.trips {
        service.record_use(&trip.canary.id, &trip.alert).await?;
    }
    for (key, error) in &poll.failures {
        eprintln!(
            "error: cannot check {key}: {}",
            for_terminal(&error.to_string())
        );
    }
    eprintln!(
        "checked {}{}: {}",
        output::count(poll.keys_checked as u64, "key"),
        if poll.used_report {
            " through the credential report"
        } else {
            ""
        },
        output::count(poll.trips.len() as u64, "new use")
    );
    if !poll.trips.is_empty() {
        return Ok(crate::EXIT_ALERTS);
    }
    if !poll.failures.is_empty() {
        return Ok(crate::EXIT_USAGE);
    }
    Ok(0)
}

/// The integrity half of `canary check`, one line per finding.
fn print_integrity(out: &mut dyn Write, integrity: &registry::IntegrityReport) -> io::Result<()> {
    if let Some(error) = &integrity.error {
        return writeln!(out, "integrity  not checked: {}", for_terminal(error));
    }
    if integrity.differences.is_empty() {
        return writeln!(out, "integrity  passed: IAM shows only what tripkey made");
    }
    for alert in &integrity.differences {
        writeln!(
            out,
            "integrity  FLAGGED: {} ({})",
            for_terminal(&alert.summary),
            alert.rule
        )?;
    }
    Ok(())
}

/// The JSON shape of a maintenance pass.
fn maintenance_json(done: &registry::Maintenance) -> serde_json::Value {
    serde_json::json!({
        "renewed": done.renewed.iter().map(|renewed| &renewed.record).collect::<Vec<_>>(),
        "keys_deleted": done.keys_deleted.iter().map(|(name, key)| {
            serde_json::json!({ "canary": name, "access_key_id": key })
        }).collect::<Vec<_>>(),
        "expired": done.expired,
        "integrity_checked": done.integrity_checked,
        "integrity_alerts": done.integrity_alerts,
        "failures": done.failures.iter().map(|(name, error)| {
            serde_json::json!({ "canary": name, "error": error.to_string() })
        }).collect::<Vec<_>>(),
    })
}

fn print_maintenance(out: &mut dyn Write, done: &registry::Maintenance) -> io::Result<()> {
    for renewed in &done.renewed {
        writeln!(
            out,
            "renewed      {} ({}) until {}{}",
            for_terminal(&renewed.record.name),
            renewed.record.access_key_id,
            renewed
                .record
                .expires_at
                .map_or_else(|| "-".to_owned(), |at| at.to_string()),
            if renewed.record.secret_kept {
                ", secret kept"
            } else {
                ""
            }
        )?;
    }
    for (name, key) in &done.keys_deleted {
        writeln!(
            out,
            "key deleted  {} ({key}): its grace period is over",
            for_terminal(name)
        )?;
    }
    for record in &done.expired {
        writeln!(out, "expired      {}", for_terminal(&record.name))?;
    }
    for alert in &done.integrity_alerts {
        writeln!(
            out,
            "{:<12} {}",
            alert.rule.as_str(),
            for_terminal(&alert.summary)
        )?;
    }
    if done.renewed.is_empty()
        && done.keys_deleted.is_empty()
        && done.expired.is_empty()
        && done.integrity_alerts.is_empty()
    {
        writeln!(out, "Nothing to do.")?;
    }
    if done.integrity_checked > 0 {
        writeln!(
            out,
            "Checked {} in IAM: {}.",
            output::count(done.integrity_checked as u64, "IAM-user canary"),
            if done.integrity_alerts.is_empty() {
                "each holds only what tripkey made".to_owned()
            } else {
                output::count(done.integrity_alerts.len() as u64, "difference")
            }
        )?;
    }
    Ok(())
}

/// Refuses profile names that would break the credentials file or read as another section.
fn check_profile_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.trim().is_empty()
            && name.trim() == name
            && !name.contains(['[', ']', '\n', '\r', '#', ';']),
        "{:?} cannot be a profile name: give a name without brackets, line breaks, comment \
         characters or surrounding spaces, e.g. billing-admin",
        name
    );
    anyhow::ensure!(
        name != "default",
        "refusing to write the canary as the [default] profile: every AWS tool would pick it \
         up by accident and alert; give another --profile-name"
    );
    Ok(())
}

/// The region planted credentials name when neither the server, the flags nor `[aws]` give
/// one: the region `serve` defaults to as well.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Prints fresh credentials: a profile or shell exports rendered by crate placement (the
/// renderer the API, the dashboard and `plant` use), or the JSON document.
pub(crate) fn print_credentials(
    out: &mut dyn Write,
    record: &CanaryRecord,
    credentials: &registry::Issued,
    format: CredentialFormat,
    profile: Option<&str>,
    region: &str,
) -> anyhow::Result<()> {
    let key = &credentials.access_key_id;
    let secret = credentials.secret_access_key.expose();
    let token = credentials
        .session_token
        .as_ref()
        .map(|token| token.expose());
    let expiration = record.expires_at.map(|at| at.to_string());
    let planted = placement::Credentials {
        access_key_id: key,
        secret_access_key: secret,
        session_token: token,
        expiration: expiration.as_deref(),
        region,
    };
    match format {
        CredentialFormat::Credentials => {
            let profile = match profile {
                Some(name) => name.to_owned(),
                None => keys::profile_name(record.id.as_str(), 0),
            };
            check_profile_name(&profile)?;
            // The blank line first: appended to a file whose last line has no line break, the
            // section header still starts a line of its own.
            writeln!(out)?;
            let text =
                placement::render(placement::Format::CREDENTIALS_PROFILE, &planted, &profile);
            out.write_all(text.as_bytes())?;
        }
        CredentialFormat::Env => {
            let text = placement::render(placement::Format::ENV, &planted, "");
            out.write_all(text.as_bytes())?;
        }
        CredentialFormat::Json => {
            let document = serde_json::json!({
                "canary": record,
                "credentials": {
                    "access_key_id": key,
                    "secret_access_key": secret,
                    "session_token": token,
                    "expiration": record.expires_at,
                },
            });
            output::write_json(out, &document)?;
        }
    }
    Ok(())
}

/// A history entry's detail as `key: value` pairs instead of raw JSON.
fn describe_detail(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Object(fields) => fields
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}: {text}"),
                other => format!("{key}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn print_detail(out: &mut dyn Write, detail: &registry::CanaryDetail) -> io::Result<()> {
    let canary = &detail.canary;
    let time =
        |at: Option<store::EventTime>| at.map_or_else(|| "-".to_owned(), |at| at.to_string());
    let labels: Vec<String> = canary
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let labels = if labels.is_empty() {
        "-".to_owned()
    } else {
        labels.join(" ")
    };
    let mut field = |label: &str, value: &str| writeln!(out, "{label:<11} {}", for_terminal(value));
    field("name", &canary.name)?;
    field("id", canary.id.as_str())?;
    field("kind", canary.kind.as_str())?;
    field(
        "issuer",
        if canary.issuer.is_offline() {
            "offline (authenticates nowhere)"
        } else {
            "aws"
        },
    )?;
    field("status", canary.status.as_str())?;
    field("account", &canary.account_id)?;
    field("access key", &canary.access_key_id)?;
    field("principal", &canary.principal_arn)?;
    field("labels", &labels)?;
    field("memo", canary.memo.as_deref().unwrap_or("-"))?;
    field("created", &canary.created_at.to_string())?;
    field("expires", &time(canary.expires_at))?;
    field("revoked", &time(canary.revoked_at))?;
    field("last alert", &time(canary.last_alert_at))?;
    if detail.keys.len() > 1 {
        writeln!(out, "\nKEYS")?;
        for key in &detail.keys {
            writeln!(
                out,
                "  {:<20}  issued {}  retired {}  deleted {}",
                key.access_key_id,
                key.issued_at,
                time(key.retired_at),
                time(key.deleted_at)
            )?;
        }
    }
    writeln!(out, "\nHISTORY")?;
    for event in &detail.history {
        writeln!(
            out,
            "  {}  {:<11}  {}",
            event.at,
            event.kind.as_str(),
            for_terminal(&describe_detail(&event.detail))
        )?;
    }
    Ok(())
}

pub(crate) fn print_table(out: &mut dyn Write, canaries: &[CanaryRecord]) -> io::Result<()> {
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
