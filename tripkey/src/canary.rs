//! `tripkey canary …`: issue canaries and manage the inventory, over the registry service.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use detect::Span;
use keys::AccountId;
use registry::{CanaryService, CreateRequest, Issuer, OfflineIssuer, Settings, UsageLookup};
use store::{CanaryFilter, CanaryKind, CanaryRecord, CanaryStatus, Labels, SecretKey, Store};

use crate::aws_issuer::AwsIssuer;
use crate::config::{AwsConfig, Config, NameStyleSetting};
use crate::output::Format;
use notify::escape::for_terminal;

/// Where the inventory lives and which issuer makes credentials. Flags and environment
/// variables override the `[store]`, `[aws]` and `[canary]` tables of the config file.
#[derive(clap::Args)]
pub struct RegistryArgs {
    /// Configuration file (tripkey.toml).
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG", global = true)]
    config: Option<PathBuf>,
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
    /// The profile with the keys of the federation issuer user `tripkey setup aws` made;
    /// federation canaries are issued with it [default: the main credentials].
    #[arg(
        long,
        value_name = "NAME",
        env = "TRIPKEY_FEDERATION_PROFILE",
        global = true
    )]
    federation_profile: Option<String>,
    /// The IAM path canary users are created under; tripkey's own permissions are scoped to it
    /// [default: /service/].
    #[arg(long, value_name = "PATH", global = true)]
    user_path: Option<String>,
    /// The most IAM-user canaries one account may hold [default: 5000].
    #[arg(long, value_name = "N", env = "TRIPKEY_CAPACITY", global = true)]
    capacity: Option<u64>,
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
    /// The connection options for `tripkey-aws`: flags and environment, else `[aws]`.
    pub fn options_with(&self, config: &AwsConfig) -> tripkey_aws::AwsOptions {
        tripkey_aws::AwsOptions {
            profile: self.profile.clone().or_else(|| config.profile.clone()),
            region: self.region.clone().or_else(|| config.region.clone()),
            endpoint_url: self
                .endpoint_url
                .clone()
                .or_else(|| config.endpoint_url.clone()),
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
        #[arg(long, value_name = "NAME", default_value = "default")]
        profile_name: String,
        /// Keep the secret, encrypted with the store's secret key (`TRIPKEY_SECRET_KEY` or
        /// `[store] secret_key_file`), so it can be planted again [default: `[canary]
        /// keep_secrets`, else off].
        #[arg(long)]
        keep_secret: bool,
        /// What the generated name imitates [default: `[canary] name_style`, else service].
        #[arg(long, value_enum)]
        name_style: Option<NameStyleSetting>,
    },
    /// Give a canary new credentials and print them. An IAM-user canary gets a new key and
    /// its old key keeps working for the rotation grace period (`[canary] rotation_grace`,
    /// default 24h), then `tripkey canary maintain` deletes it; a short-term canary is renewed.
    Rotate {
        /// The canary's id or name.
        canary: String,
        /// Output format of the new credentials.
        #[arg(long, value_enum, default_value_t = CredentialFormat::Credentials)]
        format: CredentialFormat,
        /// Profile name for `--format credentials`.
        #[arg(long, value_name = "NAME", default_value = "default")]
        profile_name: String,
    },
    /// One maintenance pass, for cron (`tripkey serve` runs it on its own): renew short-term
    /// canaries due within `[canary] renew_before` (default 2h) of expiry, delete rotated keys
    /// whose grace period is over, and mark lapsed canaries expired. New secrets are not
    /// printed; canaries created with --keep-secret keep them.
    Maintain,
    /// The last-used safety net, once: ask IAM when each IAM-user canary key was last used
    /// and alert on uses newer than the canary's last alert, including calls CloudTrail does
    /// not log. Above `[canary] last_used_report_above` keys (default 1000) it reads the
    /// credential report instead. Exit status 1 when it alerts.
    Poll {
        /// Output format of the alerts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
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

async fn run_async(args: RegistryArgs, command: CanaryCommand) -> anyhow::Result<u8> {
    let config = Config::load_optional(args.config.as_deref())?;
    let mut store = Store::open(config.store_path(args.db.clone())?).await?;
    if let Some(key) = secret_key(&config)? {
        store = store.with_secret_key(key);
    }
    let mut settings = settings(args.capacity, &config);
    if let CanaryCommand::Create {
        name_style: Some(style),
        ..
    } = &command
    {
        settings.name_style = (*style).into();
    }
    let context = CommandSettings {
        keep_secrets: config.canary.keep_secrets,
        report_above: config
            .canary
            .last_used_report_above
            .unwrap_or(registry::DEFAULT_REPORT_ABOVE),
    };
    let offline_account = match (args.offline_account, &config.canary.offline_account) {
        (Some(account), _) => Some(account),
        (None, Some(text)) => Some(text.parse::<AccountId>().with_context(|| {
            format!("[canary] offline_account {text:?} is not a 12-digit account ID")
        })?),
        (None, None) => None,
    };
    match offline_account {
        Some(account) => {
            let service = CanaryService::new(store, OfflineIssuer::new(account), settings);
            if matches!(command, CanaryCommand::Poll { .. }) {
                anyhow::bail!(
                    "the last-used safety net asks IAM, and offline canaries exist only here: \
                     drop --offline-account to poll the AWS canaries"
                );
            }
            execute(&service, None::<&AwsIssuer>, context, command).await
        }
        None => {
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
            let issuer = AwsIssuer::connect(&args.aws.options_with(&config.aws), federation.as_ref(), user_path)
                .await
                .context("cannot reach AWS to issue canaries (or pass --offline-account ACCOUNT for offline ones)")?;
            let service = CanaryService::new(store, issuer, settings);
            // The issuer is also the safety net's window on IAM.
            execute(&service, Some(service.issuer()), context, command).await
        }
    }
}

/// Settings the commands need beyond the service's.
#[derive(Clone, Copy)]
struct CommandSettings {
    keep_secrets: bool,
    report_above: usize,
}

async fn execute<I: Issuer, L: UsageLookup>(
    service: &CanaryService<I>,
    lookup: Option<&L>,
    context: CommandSettings,
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
            profile_name,
            keep_secret,
            name_style: _,
        } => {
            let created = service
                .create(CreateRequest {
                    kind: kind.into(),
                    labels: labels.into_iter().collect::<Labels>(),
                    memo,
                    keep_secret: keep_secret || context.keep_secrets,
                })
                .await?;
            print_credentials(
                out,
                &created.record,
                &created.credentials,
                format,
                &profile_name,
            )?;
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
        CanaryCommand::Rotate {
            canary,
            format,
            profile_name,
        } => {
            let replaced = service.rotate(&canary).await?;
            print_credentials(
                out,
                &replaced.record,
                &replaced.credentials,
                format,
                &profile_name,
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
                    replaced.record.name, replaced.replaced_key
                );
            } else {
                eprintln!(
                    "renewed {}: plant the new credentials; the old ones lapse at their expiry",
                    replaced.record.name
                );
            }
        }
        CanaryCommand::Maintain => {
            let done = service.maintain(store::now()).await?;
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
            for (name, error) in &done.failures {
                eprintln!(
                    "error: {}: {}",
                    for_terminal(name),
                    for_terminal(&error.to_string())
                );
            }
            if done.renewed.is_empty() && done.keys_deleted.is_empty() && done.expired.is_empty() {
                writeln!(out, "nothing to do")?;
            }
            if !done.failures.is_empty() {
                return Ok(crate::EXIT_USAGE);
            }
        }
        CanaryCommand::Poll { format } => {
            let lookup = lookup.context("the last-used safety net needs AWS")?;
            let poll = service.poll_last_used(lookup, context.report_above).await?;
            let alerts: Vec<detect::Alert> =
                poll.trips.iter().map(|trip| trip.alert.clone()).collect();
            crate::output::write_alerts(out, &alerts, format)?;
            out.flush()?;
            // Recorded only once written out, so a crash in between reports the use again
            // rather than losing it.
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
                "checked {} keys{}: {} new uses",
                poll.keys_checked,
                if poll.used_report {
                    " through the credential report"
                } else {
                    ""
                },
                poll.trips.len()
            );
            if !poll.trips.is_empty() {
                return Ok(crate::EXIT_ALERTS);
            }
            if !poll.failures.is_empty() {
                return Ok(crate::EXIT_USAGE);
            }
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
    record: &CanaryRecord,
    credentials: &registry::Issued,
    format: CredentialFormat,
    profile: &str,
) -> io::Result<()> {
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
                "canary": record,
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
