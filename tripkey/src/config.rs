//! `tripkey.toml`: the configuration file, overridden by environment variables and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use detect::{DetectConfig, Span};
use registry::AfterTrigger;
use serde::Deserialize;
use store::Location;

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
    /// `[[issuer]]` tables: the AWS accounts `serve`'s API issues canaries in, each with its
    /// own credentials (none: the `[aws]` credentials' account).
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
    /// `tripkey plant` on a host: the server, token and defaults.
    pub plant: PlantConfig,
}

/// The `[plant]` table, for hosts where `tripkey plant` runs from a script or timer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlantConfig {
    /// The tripkey server's URL.
    pub server: Option<String>,
    /// An `issuer` token; write `token = "${TRIPKEY_TOKEN}"` to keep it out of the file.
    pub token: Option<String>,
    /// The kind of canary to plant: `iam-user`, `federation` or `role-session`.
    pub kind: Option<String>,
    /// Where the record of what was planted and the backups are kept. Relative to the
    /// config file.
    pub state_dir: Option<PathBuf>,
    /// Labels every canary planted from this host gets.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// One `[[issuer]]` table: an AWS account canaries can be issued in through the API. Issuing
/// from accounts of your own organisation makes a canary look like one of its keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The account, checked against the credentials' own at start.
    pub account: Option<String>,
    /// The profile with this account's credentials (a profile may assume a role with
    /// `role_arn` in the AWS config file) [default: the `[aws]` credentials].
    pub profile: Option<String>,
    /// The profile of the account's federation issuer user, for federation canaries.
    pub federation_profile: Option<String>,
    /// The IAM path canary users are created under [default: `[canary] user_path`, else
    /// /service/].
    pub user_path: Option<String>,
    /// The kinds issued from this account [default: all three].
    #[serde(default)]
    pub kinds: Vec<store::CanaryKind>,
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
    /// The most one item (an S3 object, an SQS message, a file, a request body) may
    /// decompress to, in bytes; what is past it is skipped and reported [default: 128 MiB,
    /// well above CloudTrail's largest files, which are tens of MB].
    pub max_item_size: Option<u64>,
    /// The bytes of input that may be in memory at once, read but not yet committed, over
    /// every source and `POST /ingest`; past it sources wait and `/ingest` answers 503 with
    /// Retry-After [default: 256 MiB].
    pub memory_budget: Option<u64>,
    /// Repeats for one canary or principal within this window go out as one digest
    /// [default: 60s].
    pub rate_window: Option<Span>,
    /// The longest wait between retries of a failing sink [default: 10m].
    pub retry_cap: Option<Span>,
    /// How long (wall time) the input of every worker must be quiet before decisions still
    /// waiting for their settle time are released [default: `[detect] settle`]. Shorter
    /// than `settle` when regions lag far behind (a long event-time settle) but an idle
    /// input should not hold alerts back that long.
    pub quiet: Option<Span>,
    /// How often the last-used safety net asks IAM about the canary keys [default: 15m].
    pub last_used_every: Option<Span>,
    /// How often short-term canaries are renewed and rotated keys deleted [default: 10m].
    pub maintain_every: Option<Span>,
    /// A file holding the admin token of the API, instead of one made and shown on the first
    /// start (`TRIPKEY_ADMIN_TOKEN` wins). Relative to the config file.
    pub admin_token_file: Option<PathBuf>,
    /// Serve `/metrics` and `/status` without a token, for a scraper that cannot send one
    /// [default: false: they need a `viewer` token].
    pub open_metrics: bool,
    /// Failed authentications from one address within 5 minutes before its failing requests
    /// are answered 429 [default: 10; 0 never throttles].
    pub auth_failure_limit: Option<u32>,
    /// A PEM certificate chain: with `tls_key`, serve answers HTTPS. Relative to the config
    /// file.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`. Relative to the config file.
    pub tls_key: Option<PathBuf>,
    /// A canaries file (as `scan --canaries` reads) whose canaries are watched beside those of
    /// the database. Relative to the config file.
    pub canaries: Option<PathBuf>,
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
        /// The most objects a worker reads in one batch [default: 32].
        batch_objects: Option<usize>,
        /// How long a worker's claim on a batch's objects lasts; when it dies, another
        /// worker reads them after this [default: 10m].
        claim: Option<Span>,
        /// An unreadable object is quarantined at this many failures [default: 5].
        quarantine_after: Option<u32>,
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
    /// The canary database, an SQLite file. Relative to the config file.
    pub path: Option<PathBuf>,
    /// The database as a location: `postgres://USER:PASSWORD@HOST/DATABASE`, or an SQLite
    /// path or `sqlite:PATH` (relative to the config file). Only one of `path` and `url`.
    pub url: Option<String>,
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

impl AwsConfig {
    /// The connection options for `tripkey-aws`: each of the flags (or their environment
    /// variables) when given, else this table's.
    pub fn options_over(
        &self,
        profile: Option<String>,
        region: Option<String>,
        endpoint_url: Option<String>,
    ) -> tripkey_aws::AwsOptions {
        tripkey_aws::AwsOptions {
            profile: profile.or_else(|| self.profile.clone()),
            region: region.or_else(|| self.region.clone()),
            endpoint_url: endpoint_url.or_else(|| self.endpoint_url.clone()),
            credentials: None,
        }
    }
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

/// Replaces `${NAME}` with the environment variable NAME and `${NAME:-fallback}` with it or,
/// when it is unset or empty, the fallback; `$${` stands for a literal `${`. One config file
/// then serves several environments (queue URLs, bucket names), as Vector's configs do. An
/// unset variable without a fallback is an error naming it and its line, never an empty value.
fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut expanded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        expanded.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            expanded.push_str("${");
            rest = literal;
            continue;
        }
        let Some(reference) = after.strip_prefix('{') else {
            expanded.push('$');
            rest = after;
            continue;
        };
        let line = text[..text.len() - rest.len() + at].matches('\n').count() + 1;
        let end = reference
            .find('}')
            .with_context(|| format!("line {line}: `${{` is not closed with `}}`"))?;
        let (name, fallback) = match reference[..end].split_once(":-") {
            Some((name, fallback)) => (name, Some(fallback)),
            None => (&reference[..end], None),
        };
        anyhow::ensure!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "line {line}: `${{{}}}` is not an environment variable reference (write `$${{` for a literal `${{`)",
            &reference[..end]
        );
        match (lookup(name).filter(|value| !value.is_empty()), fallback) {
            (Some(value), _) => expanded.push_str(&value),
            (None, Some(fallback)) => expanded.push_str(fallback),
            (None, None) => anyhow::bail!(
                "line {line}: the environment variable {name} is not set; export it, or write `${{{name}:-DEFAULT}}` to give a default"
            ),
        }
        rest = &reference[end + 1..];
    }
    expanded.push_str(rest);
    Ok(expanded)
}

impl Config {
    /// Reads a configuration file; relative paths inside it are resolved against its folder.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let text = expand_env(&text, |name| std::env::var(name).ok())
            .with_context(|| format!("cannot use the config file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid tripkey config (see docs/configuration.md)",
                path.display()
            )
        })?;
        if let Some(folder) = path.parent() {
            if let Some(url) = &mut config.store.url {
                // A relative SQLite path in the URL is relative to the file, as `path` is.
                if let Ok(location) = Location::parse(url) {
                    if location.sqlite_path().is_some_and(Path::is_relative) {
                        *url = location.relative_to(folder).to_string();
                    }
                }
            }
            for relative in [
                &mut config.scan.canaries,
                &mut config.store.path,
                &mut config.store.secret_key_file,
                &mut config.serve.admin_token_file,
                &mut config.serve.tls_cert,
                &mut config.serve.tls_key,
                &mut config.serve.canaries,
                &mut config.plant.state_dir,
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
        config
            .store_location()
            .with_context(|| path.display().to_string())?;
        config
            .check_sources()
            .with_context(|| path.display().to_string())?;
        config
            .check_public_url()
            .with_context(|| path.display().to_string())?;
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

    /// Fails when two sources share a name (names key the checkpoints) or a queue's
    /// visibility timeout is outside what SQS takes and the heartbeat needs.
    pub fn check_sources(&self) -> anyhow::Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for source in &self.sources {
            anyhow::ensure!(
                names.insert(source.name()),
                "two sources are named {:?}; names key checkpoints and must differ",
                source.name()
            );
            if let SourceConfig::Sqs {
                name,
                visibility: Some(visibility),
                ..
            } = source
            {
                let seconds = visibility.millis() / 1_000;
                anyhow::ensure!(
                    (2..=43_200).contains(&seconds),
                    "source {name:?}: visibility must be between 2s and 12h (SQS takes up to 12h; tripkey renews it at half), not {seconds}s"
                );
            }
        }
        Ok(())
    }

    /// Fails when `[serve] public_url` is not an address links can be built on: notifications
    /// append `/alerts/KEY` and `#playbook` to it, so it needs http(s), a host, and no query or
    /// fragment; and everyone who gets a notification sees it, so it carries no credentials.
    pub fn check_public_url(&self) -> anyhow::Result<()> {
        let Some(url) = &self.serve.public_url else {
            return Ok(());
        };
        let example = "write it as people open the dashboard, like https://tripkey.example.com";
        let lower = url.to_ascii_lowercase();
        let Some(rest) = ["https://", "http://"]
            .iter()
            .find(|scheme| lower.starts_with(*scheme))
            .map(|scheme| &url[scheme.len()..])
        else {
            anyhow::bail!("[serve] public_url {url:?} is not an http(s) URL; {example}");
        };
        anyhow::ensure!(
            !url.chars().any(|c| c.is_whitespace() || c.is_control()),
            "[serve] public_url {url:?} holds a space or a control character; {example}"
        );
        anyhow::ensure!(
            !url.contains('?'),
            "[serve] public_url {url:?} has a query; remove the `?` and what follows: links \
             add /alerts/KEY to its path"
        );
        anyhow::ensure!(
            !url.contains('#'),
            "[serve] public_url {url:?} has a fragment; remove the `#` and what follows: links \
             add /alerts/KEY#playbook to it"
        );
        let authority = rest.split('/').next().unwrap_or_default();
        anyhow::ensure!(
            !authority.contains('@'),
            "[serve] public_url {url:?} carries a user name or password, which every \
             notification would show; remove the part before `@`"
        );
        anyhow::ensure!(
            !authority.is_empty() && !authority.starts_with(':'),
            "[serve] public_url {url:?} names no host; {example}"
        );
        Ok(())
    }

    /// The file given with `--config` or `TRIPKEY_CONFIG`, or no configuration at all.
    pub fn load_optional(path: Option<&Path>) -> anyhow::Result<Config> {
        path.map_or_else(|| Ok(Config::default()), Config::load)
    }

    /// The database: `given` (the `--database` flag, else `TRIPKEY_DATABASE`), else
    /// `TRIPKEY_DB`, else `[store] url` or `[store] path`, else the per-user default.
    pub fn database(&self, given: Option<&str>) -> anyhow::Result<Location> {
        let legacy = std::env::var("TRIPKEY_DB").ok();
        self.database_from(given, legacy.as_deref())
    }

    /// [`Config::database`] with the value of `TRIPKEY_DB` given.
    fn database_from(&self, given: Option<&str>, legacy: Option<&str>) -> anyhow::Result<Location> {
        let given = given.filter(|text| !text.is_empty());
        if let Some(text) = given.or(legacy.filter(|text| !text.is_empty())) {
            return Location::parse(text).map_err(Into::into);
        }
        if let Some(location) = self.store_location()? {
            return Ok(location);
        }
        store::default_path().map(Location::sqlite).context(
            "no home folder to keep the canary database in: pass --database PATH_OR_URL, set \
             TRIPKEY_DATABASE, or set [store] url in the config file",
        )
    }

    /// The database the `[store]` table names, if it names one: `url` or `path`, not both.
    fn store_location(&self) -> anyhow::Result<Option<Location>> {
        match (&self.store.url, &self.store.path) {
            (Some(_), Some(_)) => anyhow::bail!(
                "[store] has both path and url; keep one: url takes a path, sqlite:PATH or \
                 postgres://USER:PASSWORD@HOST/DATABASE"
            ),
            (Some(url), None) => Location::parse(url)
                .map(Some)
                .context("[store] url cannot be used"),
            (None, Some(path)) => Ok(Some(Location::sqlite(path))),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> anyhow::Result<String> {
        expand_env(text, |name| match name {
            "QUEUE" => Some("https://sqs.example/q".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn environment_references_are_replaced() {
        assert_eq!(
            expand("queue_url = \"${QUEUE}\"\nbucket = \"${BUCKET:-trail}\"\n").unwrap(),
            "queue_url = \"https://sqs.example/q\"\nbucket = \"trail\"\n"
        );
        assert_eq!(
            expand("x = \"${EMPTY:-fallback}\"").unwrap(),
            "x = \"fallback\""
        );
        assert_eq!(
            expand("password = \"a$b$${QUEUE}$\"").unwrap(),
            "password = \"a$b${QUEUE}$\"",
            "a lone $ stays and $${{ is a literal ${{"
        );
    }

    #[test]
    fn an_unset_variable_is_an_error_with_its_name_and_line() {
        let error = expand("a = 1\n\nb = \"${MISSING}\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 3") && error.contains("MISSING"),
            "{error}"
        );
        let error = expand("b = \"${not a name}\"").unwrap_err().to_string();
        assert!(error.contains("literal"), "{error}");
        assert!(expand("b = \"${QUEUE\"").is_err());
    }

    #[test]
    fn the_database_is_the_flag_then_the_environment_then_the_file() {
        let file =
            |store: &str| -> Config { toml::from_str(&format!("[store]\n{store}")).unwrap() };
        let with_url = file("url = \"postgres://tripkey:hunter2@db/tripkey\"");
        let with_path = file("path = \"/srv/tripkey.db\"");
        let sqlite = |path: &str| Location::sqlite(path);
        assert_eq!(
            with_url
                .database_from(Some("flag.db"), Some("legacy.db"))
                .unwrap(),
            sqlite("flag.db")
        );
        assert_eq!(
            with_url.database_from(None, Some("legacy.db")).unwrap(),
            sqlite("legacy.db")
        );
        let url = with_url.database_from(None, None).unwrap();
        assert_eq!(url.backend(), store::Backend::Postgres);
        assert_eq!(url.to_string(), "postgres://tripkey:***@db/tripkey");
        assert_eq!(
            with_path.database_from(Some(""), None).unwrap(),
            sqlite("/srv/tripkey.db"),
            "an empty TRIPKEY_DATABASE names nothing"
        );
        assert_eq!(
            Config::default().database_from(None, None).unwrap(),
            Location::sqlite(store::default_path().unwrap())
        );
        assert_eq!(
            with_path
                .database_from(Some("sqlite:/tmp/x.db"), None)
                .unwrap(),
            sqlite("/tmp/x.db")
        );
    }

    #[test]
    fn a_store_table_names_one_database() {
        let both: Config =
            toml::from_str("[store]\npath = \"a.db\"\nurl = \"postgres://db/t\"\n").unwrap();
        let error = both.database_from(None, None).unwrap_err().to_string();
        assert!(error.contains("both path and url"), "{error}");
        let bad: Config = toml::from_str("[store]\nurl = \"mysql://root:hunter2@db/t\"\n").unwrap();
        let error = format!("{:#}", bad.database_from(None, None).unwrap_err());
        assert!(
            error.contains("[store] url") && !error.contains("hunter2"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            bad.database_from(Some("mysql://root:hunter2@db/t"), None)
                .unwrap_err()
        );
        assert!(
            error.contains("does not name a database") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn a_relative_sqlite_url_in_the_file_is_relative_to_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("tripkey.toml");
        std::fs::write(&path, "[store]\nurl = \"sqlite:data/tripkey.db\"\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(
            config.database_from(None, None).unwrap(),
            Location::sqlite(folder.path().join("data/tripkey.db"))
        );
        std::fs::write(&path, "[store]\npath = \"a.db\"\nurl = \"b.db\"\n").unwrap();
        let error = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(error.contains("both path and url"), "{error}");
    }

    #[test]
    fn a_queue_visibility_outside_what_sqs_takes_is_refused() {
        let config = |visibility: &str| -> Config {
            toml::from_str(&format!(
                "[[source]]\ntype = \"sqs\"\nname = \"q\"\nqueue_url = \"https://sqs/1/q\"\nvisibility = \"{visibility}\"\n"
            ))
            .unwrap()
        };
        assert!(config("60s").check_sources().is_ok());
        for bad in ["0s", "1s", "13h"] {
            let error = config(bad).check_sources().unwrap_err().to_string();
            assert!(error.contains("between 2s and 12h"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_public_url_must_be_http_with_a_host_and_no_query() {
        let config = |url: &str| -> Config {
            toml::from_str(&format!("[serve]\npublic_url = {url:?}\n")).unwrap()
        };
        for good in [
            "https://tripkey.example.com",
            "https://tripkey.example.com/",
            "http://10.0.0.5:8470/tripkey",
            "HTTPS://tripkey.example.com",
        ] {
            assert!(config(good).check_public_url().is_ok(), "{good}");
        }
        assert!(Config::default().check_public_url().is_ok());
        for (bad, says) in [
            ("tripkey.example.com", "not an http(s) URL"),
            ("ftp://tripkey.example.com", "not an http(s) URL"),
            ("https://tripkey.example.com/?team=sec", "has a query"),
            ("https://tripkey.example.com/#top", "has a fragment"),
            ("https://", "names no host"),
            ("https:///alerts", "names no host"),
            (
                "https://admin:pw@tripkey.example.com",
                "user name or password",
            ),
            ("https://tripkey.example.com/a b", "space"),
        ] {
            let error = config(bad).check_public_url().unwrap_err().to_string();
            assert!(
                error.contains(says) && error.contains("public_url"),
                "{bad}: {error}"
            );
        }
    }
}
