//! `tripkey.toml`: the configuration file, overridden by environment variables and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use detect::{DetectConfig, Span};
use registry::AfterTrigger;
use serde::Deserialize;

/// The whole configuration file. Every table is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Detector thresholds, windows and allowlists.
    pub detect: DetectConfig,
    /// Defaults for `tripkey scan`.
    pub scan: ScanDefaults,
    /// Where the canary database lives and how kept secrets are encrypted.
    pub store: StoreConfig,
    /// How to reach AWS.
    pub aws: AwsConfig,
    /// How canaries are issued and looked after.
    pub canary: CanaryConfig,
    /// `tripkey serve`: listening address, schedules, delivery pacing.
    pub serve: ServeConfig,
    /// `[[source]]` tables: where `serve` reads CloudTrail from.
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// `[[sink]]` tables: where notifications go.
    #[serde(rename = "sink")]
    pub sinks: Vec<notify::SinkSpec>,
    /// `[[route]]` tables: which alerts go to which sinks (none: every alert to every sink).
    #[serde(rename = "route")]
    pub routes: Vec<notify::Route>,
}

/// The `[serve]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the HTTP API listens [default: 127.0.0.1:8470].
    pub listen: Option<std::net::SocketAddr>,
    /// The dashboard's public URL, for links in notifications.
    pub public_url: Option<String>,
    /// The largest `POST /ingest` body, in bytes [default: 16 MiB].
    pub ingest_limit: Option<usize>,
    /// Repeats for one canary or principal within this window go out as one digest
    /// [default: 60s].
    pub rate_window: Option<Span>,
    /// The longest wait between retries of a failing sink [default: 10m].
    pub retry_cap: Option<Span>,
    /// How often the last-used safety net asks IAM about the canary keys [default: 15m].
    pub last_used_every: Option<Span>,
    /// How often short-term canaries are renewed and rotated keys deleted [default: 10m].
    pub maintain_every: Option<Span>,
}

/// One `[[source]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A trail bucket polled with ListObjectsV2.
    S3 {
        /// The source's name (checkpoints and metrics are kept under it).
        name: String,
        /// The trail bucket.
        bucket: String,
        /// The trail's key prefix before `AWSLogs/`, if it has one.
        #[serde(default)]
        prefix: String,
        /// The wait between polls [default: 30s].
        poll: Option<Span>,
        /// How far back to start in a new account or region [default: 1h].
        start_back: Option<Span>,
    },
    /// An SQS queue of S3 notifications (direct or through SNS) or EventBridge events.
    Sqs {
        /// The source's name.
        name: String,
        /// The queue URL.
        queue_url: String,
        /// The visibility timeout while a batch is processed [default: 60s].
        visibility: Option<Span>,
    },
    /// A local directory watched for new log files.
    Dir {
        /// The source's name.
        name: String,
        /// The directory; relative to the config file.
        path: PathBuf,
        /// The wait between looks [default: 2s].
        poll: Option<Span>,
    },
}

impl SourceConfig {
    /// The source's name.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::S3 { name, .. }
            | SourceConfig::Sqs { name, .. }
            | SourceConfig::Dir { name, .. } => name,
        }
    }
}

/// The `[scan]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanDefaults {
    /// The canaries file to use when `--canaries` is not given. Relative to the config file.
    pub canaries: Option<PathBuf>,
    /// Always look for the canary database's canaries too, as if `--store` were given.
    pub store: bool,
}

/// The `[store]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The canary database. Relative to the config file.
    pub path: Option<PathBuf>,
    /// A file holding the base64 key that encrypts kept secrets (`TRIPKEY_SECRET_KEY` holds
    /// the key itself and wins). Relative to the config file.
    pub secret_key_file: Option<PathBuf>,
}

/// The `[aws]` table; `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL` and flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConfig {
    /// A named profile instead of the default credential chain.
    pub profile: Option<String>,
    /// The region for STS calls.
    pub region: Option<String>,
    /// Another endpoint, e.g. a moto or LocalStack server.
    pub endpoint_url: Option<String>,
    /// The profile holding the federation issuer user's keys (`tripkey setup aws` creates the
    /// user); federation canaries are issued with them.
    pub federation_profile: Option<String>,
}

/// The `[canary]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryConfig {
    /// Mint offline canaries for this account instead of calling AWS.
    pub offline_account: Option<String>,
    /// The IAM path canary users are created under.
    pub user_path: Option<String>,
    /// The most IAM-user canaries one account may hold.
    pub capacity: Option<u64>,
    /// `service` or `person`: what generated names imitate.
    pub name_style: Option<NameStyleSetting>,
    /// Lifetime of federation-token canaries (at most 36h).
    pub federation_duration: Option<Span>,
    /// Lifetime of role-session canaries (at most 12h).
    pub role_session_duration: Option<Span>,
    /// How long before expiry short-term canaries are renewed.
    pub renew_before: Option<Span>,
    /// How long a rotated IAM key keeps working before it is deleted.
    pub rotation_grace: Option<Span>,
    /// What happens to a canary once it is used: `keep-watching` or `deactivate`.
    pub after_trigger: Option<AfterTrigger>,
    /// Keep every issued secret, encrypted, so that it can be planted again.
    pub keep_secrets: bool,
    /// Above this many IAM-user canary keys, the last-used poller reads the credential report
    /// instead of asking IAM key by key.
    pub last_used_report_above: Option<usize>,
}

/// What generated canary names imitate.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NameStyleSetting {
    /// Service accounts, e.g. `svc-billing-sync-07` under `/service/`.
    Service,
    /// People, e.g. `priya.raman4`.
    Person,
}

impl From<NameStyleSetting> for keys::NameStyle {
    fn from(style: NameStyleSetting) -> keys::NameStyle {
        match style {
            NameStyleSetting::Service => keys::NameStyle::Service,
            NameStyleSetting::Person => keys::NameStyle::Person,
        }
    }
}

impl Config {
    /// Reads a configuration file; relative paths inside it are resolved against its folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid tripkey config (see README.md, \"Configuration\")",
                path.display()
            )
        })?;
        if let Some(folder) = path.parent() {
            for relative in [
                &mut config.scan.canaries,
                &mut config.store.path,
                &mut config.store.secret_key_file,
            ] {
                if let Some(file) = relative.as_mut() {
                    *file = folder.join(&*file);
                }
            }
            for source in &mut config.sources {
                if let SourceConfig::Dir { path, .. } = source {
                    *path = folder.join(&*path);
                }
            }
            for sink in &mut config.sinks {
                if let notify::SinkConfig::JsonLines { path } = &mut sink.config {
                    if path.as_os_str() != "-" {
                        *path = folder.join(&*path);
                    }
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for source in &config.sources {
            anyhow::ensure!(
                names.insert(source.name().to_owned()),
                "{}: two [[source]] tables are named {:?}; names key checkpoints and must differ",
                path.display(),
                source.name()
            );
        }
        let mut sink_names = std::collections::BTreeSet::new();
        for sink in &config.sinks {
            anyhow::ensure!(
                sink_names.insert(sink.name.as_str()),
                "{}: two [[sink]] tables are named {:?}; routes and the outbox name sinks, so \
                 names must differ",
                path.display(),
                sink.name
            );
        }
        Ok(config)
    }

    /// The file given with `--config` or `TRIPKEY_CONFIG`, or no configuration at all.
    pub fn load_optional(path: Option<&Path>) -> anyhow::Result<Config> {
        path.map_or_else(|| Ok(Config::default()), Config::load)
    }

    /// The canary database: the flag or `TRIPKEY_DB`, else `[store] path`, else the per-user
    /// default.
    pub fn store_path(&self, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
        flag.or_else(|| self.store.path.clone())
            .or_else(store::default_path)
            .context(
                "no home folder to keep the canary database in: pass --db FILE or set [store] path",
            )
    }
}
