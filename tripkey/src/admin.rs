//! Looking after `tripkey serve` from the command line: `status` (sources, alerts, sink
//! health, read from the database serve writes), `alert list` and `alert test`, and the API
//! tokens of `POST /ingest`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use notify::escape::for_terminal;
use store::{AlertStateChange, Location, Store};

use crate::config::{Config, SourceConfig};
use crate::output::{DataFormat, Format, FormatArgs};

/// The configuration and database a command works on.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Configuration file (tripkey.toml).
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The database `tripkey serve` writes: an SQLite file (a path or sqlite:PATH) or
    /// postgres://USER:PASSWORD@HOST/DATABASE; TRIPKEY_DB is read too [default: `[store] url`
    /// or `path`, else ~/.local/share/tripkey/tripkey.db].
    #[arg(
        long = "database",
        visible_alias = "db",
        value_name = "PATH_OR_URL",
        env = "TRIPKEY_DATABASE",
        hide_env_values = true,
        global = true
    )]
    pub database: Option<String>,
}

impl StoreArgs {
    /// The configuration and the database it names (with the flag and environment).
    pub fn location(&self) -> anyhow::Result<(Config, Location)> {
        let config = Config::load_optional(self.config.as_deref())?;
        let location = config.database(self.database.as_deref())?;
        Ok((config, location))
    }

    /// The configuration and the existing database: commands that only read never create one.
    pub(crate) async fn open_existing(&self) -> anyhow::Result<(Config, Store)> {
        let (config, location) = self.location()?;
        let store = location.open_existing().await?;
        Ok((config, store))
    }

    /// The configuration and the database, created when missing.
    async fn open(&self) -> anyhow::Result<(Config, Store)> {
        let (config, location) = self.location()?;
        let store = location.open().await?;
        Ok((config, store))
    }
}

/// `tripkey status` options.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    output: FormatArgs,
    /// The running `tripkey serve` to ask for its live counters (records, bytes and lag per
    /// source) [default: http:// and `[serve] listen`, else http://127.0.0.1:8470].
    #[arg(long, value_name = "URL", env = "TRIPKEY_URL")]
    url: Option<String>,
    /// A `viewer` token for serve's /status (unless serve has `[serve] open_metrics = true`).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRIPKEY_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

/// `tripkey audit` options.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    remote: crate::remote::RemoteArgs,
    /// How many entries, newest first.
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    output: FormatArgs,
}

/// Which alerts `tripkey alert list` shows: the filters of `GET /api/v1/alerts`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AlertListFilter {
    /// Only alerts of this rule.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(detect::Rule::ALL.map(detect::Rule::as_str)))]
    rule: Option<String>,
    /// Only alerts of this severity.
    #[arg(long, value_parser = ["low", "medium", "high", "critical"])]
    severity: Option<String>,
    /// Only alerts in this handling state.
    #[arg(long, value_parser = ["open", "acknowledged", "resolved"])]
    state: Option<String>,
    /// Only alerts about this canary (its name).
    #[arg(long)]
    canary: Option<String>,
    /// `true`: only the alerts a suppression kept from the sinks; `false`: only the others.
    #[arg(long)]
    suppressed: Option<bool>,
    /// Only alerts detected from this time on: RFC 3339, a day (2026-12-03) or a span before
    /// now (24h).
    #[arg(long, value_name = "TIME", value_parser = scan::parse_when)]
    since: Option<store::EventTime>,
    /// Only alerts detected before this time (as --since).
    #[arg(long, value_name = "TIME", value_parser = scan::parse_when)]
    until: Option<store::EventTime>,
}

impl AlertListFilter {
    /// The store's filter.
    pub(crate) fn to_filter(&self) -> store::AlertFilter {
        store::AlertFilter {
            rule: self.rule.clone(),
            severity: self.severity.clone(),
            state: self.state.clone(),
            canary: self.canary.clone(),
            suppressed: self.suppressed,
            since: self.since,
            until: self.until,
        }
    }
}

/// What `tripkey alert suppress` asks for.
#[derive(clap::Args, Clone, Debug)]
pub struct SuppressArgs {
    /// Only alerts of this rule.
    #[arg(long)]
    rule: Option<String>,
    /// Only alerts whose principal ARN, access key or subject is this, exactly.
    #[arg(long)]
    principal: Option<String>,
    /// Only calls from this network, e.g. 10.20.0.0/16.
    #[arg(long, value_name = "CIDR")]
    source_cidr: Option<String>,
    /// Only calls whose userAgent matches this pattern; `*` matches any run of characters.
    #[arg(long, value_name = "PATTERN")]
    user_agent: Option<String>,
    /// How long it lasts: a span like 24h or 7d, or an RFC 3339 time to end at; at most 366
    /// days.
    #[arg(long = "for", value_name = "SPAN_OR_TIME")]
    lasts: String,
    /// Why, for whoever reads a suppressed alert later.
    #[arg(long)]
    reason: String,
    /// Let it cover canary-use and canary-drift alerts too (recorded in the audit log).
    #[arg(long)]
    include_canaries: bool,
}

impl SuppressArgs {
    /// The suppression asked for, as the service, the API and the dashboard take it.
    pub(crate) fn ask(self) -> pipeline::suppressions::SuppressionAsk {
        pipeline::suppressions::SuppressionAsk {
            rule: self.rule,
            principal: self.principal,
            source_cidr: self.source_cidr,
            user_agent: self.user_agent,
            lasts: self.lasts,
            reason: self.reason,
            include_canaries: self.include_canaries,
        }
    }
}

/// `tripkey alert` subcommands.
#[derive(clap::Subcommand)]
pub enum AlertCommand {
    /// List the latest alerts, newest first.
    #[command(after_help = "Examples:
  tripkey alert list -n 50
  tripkey alert list --suppressed true --rule access-denied-burst
  tripkey alert list --since 24h --severity critical
  tripkey alert list --format jsonl | jq -r 'select(.rule == \"canary-use\") | .summary'")]
    List {
        /// How many.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        only: AlertListFilter,
        /// Output format: `table` for people, `json` one document, `jsonl` one alert per line.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The same as --format jsonl.
        #[arg(long, hide = true, conflicts_with = "format")]
        json: bool,
    },
    /// Show one alert with the raw record it was raised on.
    #[command(after_help = "Example:
  tripkey alert show 'canary-use:svc-billing-sync-07:0b8e…'")]
    Show {
        /// The alert's dedup key.
        dedup_key: String,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Mark an alert acknowledged: someone is on it.
    #[command(after_help = "Example:
  tripkey alert acknowledge 'canary-use:svc-billing-sync-07:0b8e…' --note 'paged on-call'")]
    Acknowledge {
        /// The alert's dedup key.
        dedup_key: String,
        /// What you are doing about it.
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark an alert resolved.
    #[command(after_help = "Example:
  tripkey alert resolve 'canary-use:svc-billing-sync-07:0b8e…' --note 'red-team exercise' --false-positive")]
    Resolve {
        /// The alert's dedup key.
        dedup_key: String,
        /// How it ended.
        #[arg(long)]
        note: Option<String>,
        /// The alert was no attack (a test, a tool of your own): it counts against the
        /// alerts' fidelity in the response figures.
        #[arg(long)]
        false_positive: bool,
    },
    /// Stop notifying alerts that match, for a while and for a stated reason. They are still
    /// stored, counted and shown (marked with the suppression's id); making it is audited.
    ///
    /// Every condition given must hold; at least one is needed. Canary-use and canary-drift
    /// alerts are passed over unless --include-canaries is given, which the audit log
    /// records; a suppression naming either rule without it is refused.
    #[command(after_help = "Examples:
  tripkey alert suppress --rule access-denied-burst --source-cidr 10.20.0.0/16 --for 7d --reason 'terraform plan in CI'
  tripkey alert suppress --user-agent 'aws-sdk-go/* (audit-scanner)' --for 24h --reason 'quarterly access review'
  TRIPKEY_TOKEN=... tripkey alert suppress --server http://127.0.0.1:8470 --principal arn:aws:iam::123456789012:role/scanner --for 2026-12-31T00:00:00Z --reason 'pentest window'")]
    Suppress {
        #[command(flatten)]
        terms: SuppressArgs,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// List the suppressions in force (with --all, every one ever made).
    #[command(after_help = "Example:
  tripkey alert suppressions --all --format json")]
    Suppressions {
        /// Removed and expired ones too.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// End a suppression now; alerts it matched stay marked.
    #[command(after_help = "Examples:
  tripkey alert unsuppress sup-3f2a9c0d1e4b
  tripkey alert unsuppress sup-3f2a9c0d1e4b --server http://127.0.0.1:8470 --token \"$ADMIN_TOKEN\"")]
    Unsuppress {
        /// The suppression's id.
        id: String,
    },
    /// Send a sample alert, marked as a test, straight to one configured sink, and say
    /// whether the sink took it. Nothing is written to the database.
    #[command(after_help = "Example:
  tripkey alert test slack --config tripkey.toml")]
    Test {
        /// The sink's name, as in its [[sink]] table.
        sink: String,
        /// AWS connection, for an SNS sink.
        #[command(flatten)]
        aws: crate::canary::AwsArgs,
    },
}

/// `tripkey token` subcommands.
#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token for `POST /ingest` and print it once; only its SHA-256 is kept.
    #[command(after_help = "Examples:
  tripkey token create lambda-forwarder > forwarder.token
  tripkey token create mdm-laptops --scope issuer --label team=platform --allow-label 'host=*' --expires 90d
  tripkey token create soc-dashboard --scope viewer")]
    Create {
        /// Who holds it, e.g. `lambda-forwarder` or `mdm-laptops`.
        name: String,
        /// What it may do (repeatable): `admin` everything; `viewer` read all but secrets;
        /// `issuer` issue, renew and record placements of its own canaries; `ingest` POST
        /// /ingest.
        #[arg(long = "scope", value_name = "SCOPE", default_values_t = [INGEST_SCOPE.to_owned()])]
        scopes: Vec<String>,
        /// A label forced onto every canary the token issues, as key=value (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = registry::service::label_pair)]
        pinned_labels: Vec<(String, String)>,
        /// A label the token may set, as key=PATTERN where `*` matches any text (repeatable).
        #[arg(long = "allow-label", value_name = "KEY=PATTERN", value_parser = registry::service::label_pair)]
        allowed_labels: Vec<(String, String)>,
        /// How long until it stops working, e.g. 90d [default: never].
        #[arg(long, value_name = "DURATION")]
        expires: Option<detect::Span>,
    },
    /// List tokens (names, creation, last use; never the tokens).
    #[command(after_help = "Example:
  tripkey token list --format json")]
    List {
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Revoke a token: `POST /ingest` refuses it from then on.
    #[command(after_help = "Example:
  tripkey token revoke lambda-forwarder")]
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// The scope `POST /ingest` asks of a token.
const INGEST_SCOPE: &str = "ingest";

/// Exit status when a sink is failing, has refused notifications, or has alerts waiting for it
/// after its `[[sink]]` table was removed, or when a source has quarantined objects.
const EXIT_UNHEALTHY: u8 = 1;

/// Runs `tripkey status`: exit status 0 when every sink is healthy, else
/// [`EXIT_UNHEALTHY`], so a monitor can run it.
pub fn status(args: StatusArgs) -> anyhow::Result<u8> {
    crate::async_runtime()?.block_on(async {
        let (config, store) = args.store.open_existing().await?;
        let url = args.url.clone().unwrap_or_else(|| {
            let listen = config.serve.listen.map_or_else(
                || crate::serve::DEFAULT_LISTEN.to_owned(),
                |address| address.to_string(),
            );
            format!("http://{listen}")
        });
        let live = live_report(&url, args.token.as_deref()).await;
        let mut report = pipeline::Report::gather(&store, &pipeline::Metrics::default()).await?;
        if let Ok(live) = &live {
            report.sources = live.sources.clone();
        }
        let recent = store.recent_alerts(5).await?;
        let unhealthy = report.sinks.iter().any(|sink| {
            sink.consecutive_failures > 0
                || sink.refused > 0
                || waits_for_removed_sink(&config, sink)
        }) || report
            .unreadable
            .iter()
            .any(|source| source.quarantined > 0);
        let mut out = std::io::stdout().lock();
        if args.output.get() == DataFormat::Json {
            crate::output::write_json(&mut out, &report)?;
        } else {
            writeln!(out, "database  {}", for_terminal(&store.location()))?;
            match &live {
                Ok(_) => writeln!(out, "serve     {} (answering)", for_terminal(&url))?,
                Err(error) => writeln!(
                    out,
                    "serve     not answering at {}: {}; showing the database alone \
                     (pass --url if serve listens elsewhere)",
                    for_terminal(&url),
                    for_terminal(error)
                )?,
            }
            write_status(&mut out, &config, &report, &recent)?;
        }
        store.close().await;
        Ok(if unhealthy { EXIT_UNHEALTHY } else { 0 })
    })
}

/// The report of the `serve` at `url`, whose source counters live only in its memory.
async fn live_report(url: &str, token: Option<&str>) -> Result<pipeline::Report, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.get(format!("{}/status", url.trim_end_matches('/')));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if matches!(answer.status().as_u16(), 401 | 403) {
        return Err(
            "it wants a viewer token: pass --token or set TRIPKEY_TOKEN (or set [serve] \
             open_metrics = true)"
                .to_owned(),
        );
    }
    let answer = answer
        .error_for_status()
        .map_err(|e| e.without_url().to_string())?;
    answer
        .json()
        .await
        .map_err(|e| format!("its /status is not a tripkey report: {}", e.without_url()))
}

fn write_status(
    out: &mut dyn Write,
    config: &Config,
    report: &pipeline::Report,
    recent: &[store::StoredAlert],
) -> anyhow::Result<()> {
    if !report.sources.is_empty() {
        writeln!(out, "\nSOURCES (since serve started)")?;
        writeln!(
            out,
            "  {:<16} {:>10} {:>10} {:>8} {:>8}  LAST ERROR",
            "NAME", "RECORDS", "MB READ", "LAG", "PROBLEMS"
        )?;
        for (name, stats) in &report.sources {
            let lag = stats
                .newest_event
                .map_or_else(|| "-".to_owned(), |newest| age(report.at, newest));
            writeln!(
                out,
                "  {:<16} {:>10} {:>10.1} {:>8} {:>8}  {}",
                for_terminal(name),
                stats.records,
                stats.bytes as f64 / 1e6,
                lag,
                stats.problems,
                for_terminal(stats.last_error.as_deref().unwrap_or("-"))
            )?;
        }
    }
    write_workers(out, report)?;
    if !report.objects_waiting.is_empty() {
        writeln!(out, "\nOBJECTS WAITING TO BE READ")?;
        for (source, count) in &report.objects_waiting {
            writeln!(out, "  {:<16} {count}", for_terminal(source))?;
        }
    }
    if !report.unreadable.is_empty() {
        writeln!(out, "\nUNREADABLE OBJECTS")?;
        for source in &report.unreadable {
            writeln!(
                out,
                "  {:<16} {} retrying, {} quarantined",
                for_terminal(&source.source),
                source.retrying,
                source.quarantined
            )?;
        }
        writeln!(
            out,
            "  tripkey source unreadable lists them; tripkey source retry reads quarantined ones again"
        )?;
    }
    let lateness = &report.lateness;
    writeln!(
        out,
        "\nLATENESS  {} records out of event-time order (up to {} behind); {} beyond the horizon; {} denials unplaced",
        lateness.out_of_order,
        crate::output::duration_text(lateness.max_behind_millis as f64 / 1_000.0),
        lateness.beyond_horizon,
        lateness.unplaced_denials,
    )?;
    if lateness.beyond_horizon > 0 {
        writeln!(
            out,
            "          records came later than [detect] horizon: raise it to cover the lag, or their alerts may differ from event-time order"
        )?;
    }
    writeln!(out, "\nSOURCES (committed positions)")?;
    let configured: Vec<&str> = config.sources.iter().map(|s| s.name()).collect();
    for source in &config.sources {
        let name = source.name();
        if report
            .checkpoints
            .iter()
            .any(|(committed, _, _)| committed == name)
        {
            continue;
        }
        // A queue needs no position: each message is deleted once its batch is committed.
        let note = match source {
            SourceConfig::Sqs { .. } => "a queue: messages are deleted as they are committed",
            _ => "nothing committed yet",
        };
        writeln!(out, "  {name:<16} {note}")?;
    }
    for (source, position, at) in &report.checkpoints {
        let age = age(report.at, *at);
        writeln!(
            out,
            "  {:<16} {} ago  {}",
            for_terminal(source),
            age,
            for_terminal(&short_position(position))
        )?;
    }
    if configured.is_empty() && report.checkpoints.is_empty() {
        writeln!(out, "  none (add [[source]] tables to the config)")?;
    }

    writeln!(out, "\nALERTS by rule")?;
    if report.alerts_by_rule.is_empty() {
        writeln!(out, "  none")?;
    }
    for (rule, count) in &report.alerts_by_rule {
        let suppressed = report
            .suppressed_by_rule
            .iter()
            .find(|(suppressed, _)| suppressed == rule)
            .map(|(_, n)| format!("  ({n} suppressed, not sent)"))
            .unwrap_or_default();
        writeln!(out, "  {rule:<28} {count}{suppressed}")?;
    }

    writeln!(out, "\nSINKS")?;
    writeln!(
        out,
        "  {:<16} {:<8} {:>9} {:>7} {:>7} {:>8}  LAST ERROR",
        "NAME", "STATE", "DELIVERED", "PENDING", "REFUSED", "FAILURES"
    )?;
    let mut listed: Vec<&str> = Vec::new();
    for sink in &report.sinks {
        listed.push(&sink.sink);
        let state = if waits_for_removed_sink(config, sink) {
            "REMOVED"
        } else if sink.consecutive_failures > 0 {
            "FAILING"
        } else if sink.refused > 0 {
            "REFUSED"
        } else {
            "ok"
        };
        writeln!(
            out,
            "  {:<16} {:<8} {:>9} {:>7} {:>7} {:>8}  {}",
            for_terminal(&sink.sink),
            state,
            sink.delivered,
            sink.pending,
            sink.refused,
            sink.failures,
            for_terminal(sink.last_error.as_deref().unwrap_or("-"))
        )?;
    }
    for spec in &config.sinks {
        if !listed.contains(&spec.name.as_str()) {
            writeln!(out, "  {:<16} {:<8} nothing sent yet", spec.name, "ok")?;
        }
    }

    if report
        .sinks
        .iter()
        .any(|sink| waits_for_removed_sink(config, sink))
    {
        writeln!(
            out,
            "  REMOVED: alerts wait for a sink no [[sink]] table names; add it back to deliver them"
        )?;
    }

    writeln!(out, "\nLATEST ALERTS")?;
    if recent.is_empty() {
        writeln!(out, "  none")?;
    }
    for alert in recent {
        writeln!(
            out,
            "  {}  {:<8}  {}",
            alert.detected_at,
            alert.severity,
            for_terminal(&alert.summary)
        )?;
    }
    Ok(())
}

/// An alert's JSON as shown: its body, with the suppression that kept it from being sent.
fn shown_body(alert: &store::StoredAlert) -> serde_json::Result<serde_json::Value> {
    let mut body: serde_json::Value = serde_json::from_str(&alert.body)?;
    if let (Some(id), Some(fields)) = (&alert.suppressed_by, body.as_object_mut()) {
        fields.insert("suppressed_by".to_owned(), serde_json::json!(id));
    }
    Ok(body)
}

/// The stored alerts: a table, one JSON document, or one alert body per line.
fn write_alert_list(
    out: &mut dyn Write,
    alerts: &[store::StoredAlert],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table if alerts.is_empty() => {
            writeln!(out, "No alerts yet.")?;
        }
        Format::Table => {
            writeln!(
                out,
                "{:<24}  {:<8}  {:<32}  SUMMARY",
                "DETECTED", "SEVERITY", "RULE"
            )?;
            for alert in alerts {
                writeln!(
                    out,
                    "{:<24}  {:<8}  {:<32}  {}{}",
                    alert.detected_at.to_string(),
                    alert.severity,
                    alert.rule,
                    for_terminal(&alert.summary),
                    suppressed_marker(alert.suppressed_by.as_deref())
                )?;
            }
        }
        Format::Json => {
            let bodies = alerts
                .iter()
                .map(shown_body)
                .collect::<Result<Vec<_>, _>>()
                .context("an alert in the database is not valid JSON")?;
            crate::output::write_json(out, &serde_json::json!({ "alerts": bodies }))?;
        }
        Format::Jsonl => {
            for alert in alerts {
                let body =
                    shown_body(alert).context("an alert in the database is not valid JSON")?;
                writeln!(out, "{body}")?;
            }
        }
        Format::Csv => {
            let bodies = alerts
                .iter()
                .map(|alert| serde_json::from_str::<detect::Alert>(&alert.body))
                .collect::<Result<Vec<_>, _>>()
                .context("an alert in the database cannot be read by this version")?;
            crate::output::write_alerts(out, &bodies, Format::Csv)?;
        }
    }
    Ok(())
}

/// Alerts wait for this sink, but no `[[sink]]` table names it any more.
fn waits_for_removed_sink(config: &Config, sink: &pipeline::SinkHealthReport) -> bool {
    sink.pending > 0 && !config.sinks.iter().any(|spec| spec.name == sink.sink)
}

/// A checkpoint can be a long JSON map (the dir source); one line is enough here.
fn short_position(position: &str) -> String {
    const MAX: usize = 100;
    match position.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &position[..cut]),
        None => position.to_owned(),
    }
}

/// The serve workers sharing the database: live ones, then the stopped and gone.
fn write_workers(out: &mut dyn Write, report: &pipeline::Report) -> anyhow::Result<()> {
    writeln!(out, "\nWORKERS")?;
    if report.workers.is_empty() {
        writeln!(out, "  none has run serve on this database yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "  {:<28} {:<16} {:<8} {:>6} {:>9} {:>10} {:>7}  JOBS",
        "ID", "HOST", "STATE", "SEEN", "BATCHES", "RECORDS", "LAG"
    )?;
    let mut workers: Vec<&pipeline::WorkerReport> = report.workers.iter().collect();
    workers.sort_by_key(|worker| worker.state != "live");
    for worker in workers {
        let lag = worker
            .lag_seconds
            .map_or_else(|| "-".to_owned(), crate::output::duration_text);
        writeln!(
            out,
            "  {:<28} {:<16} {:<8} {:>6} {:>9} {:>10} {:>7}  {}",
            for_terminal(&worker.id),
            for_terminal(&worker.host),
            worker.state,
            age(report.at, worker.seen_at),
            worker.batches,
            worker.records,
            lag,
            if worker.jobs.is_empty() {
                "-".to_owned()
            } else {
                for_terminal(&worker.jobs.join(", ")).into_owned()
            }
        )?;
    }
    Ok(())
}

fn age(now: trail::EventTime, then: trail::EventTime) -> String {
    let seconds = (now.0 - then.0).max(0) / 1_000;
    match seconds {
        0..=119 => format!("{seconds}s"),
        120..=7_199 => format!("{}m", seconds / 60),
        _ => format!("{}h", seconds / 3_600),
    }
}

/// Runs `tripkey alert …`.
pub fn alert(
    store_args: StoreArgs,
    remote: crate::remote::RemoteArgs,
    command: AlertCommand,
) -> anyhow::Result<u8> {
    if let Some(client) = remote.client()? {
        return crate::async_runtime()?.block_on(crate::remote::alert(client, command));
    }
    crate::async_runtime()?.block_on(async {
        match command {
            AlertCommand::List {
                limit,
                only,
                format,
                json,
            } => {
                let (_, store) = store_args.open_existing().await?;
                let alerts = store.alerts_page(&only.to_filter(), None, limit).await?;
                let format = if json { Format::Jsonl } else { format };
                let mut out = std::io::stdout().lock();
                write_alert_list(&mut out, &alerts, format)?;
                store.close().await;
                Ok(0)
            }
            AlertCommand::Show { dedup_key, output } => {
                let (_, store) = store_args.open_existing().await?;
                let alert = store
                    .alert(&dedup_key)
                    .await?
                    .with_context(|| format!("no alert has the dedup key {dedup_key:?}: `tripkey alert list` shows them"))?;
                let mut out = std::io::stdout().lock();
                match output.get() {
                    DataFormat::Json => {
                        let body: serde_json::Value = serde_json::from_str(&alert.body)?;
                        crate::output::write_json(&mut out, &body)?;
                    }
                    DataFormat::Table => {
                        writeln!(
                            out,
                            "{}  {:<8}  {:<24}  {}  {}",
                            alert.detected_at,
                            alert.severity,
                            alert.rule,
                            alert.state,
                            for_terminal(&alert.summary)
                        )?;
                        writeln!(out, "\nrecord  {}", for_terminal(&alert.body))?;
                    }
                }
                store.close().await;
                Ok(0)
            }
            AlertCommand::Acknowledge { dedup_key, note } => {
                set_alert_state(&store_args, &dedup_key, AlertStateChange::Acknowledge, note)
                    .await
            }
            AlertCommand::Resolve {
                dedup_key,
                note,
                false_positive,
            } => {
                let change = AlertStateChange::Resolve { false_positive };
                set_alert_state(&store_args, &dedup_key, change, note).await
            }
            AlertCommand::Suppress { terms, output } => {
                let (_, store) = store_args.open_existing().await?;
                let made =
                    pipeline::suppressions::create(&store, terms.ask(), CLI_ACTOR, store::now())
                        .await;
                store.close().await;
                print_made(&mut std::io::stdout().lock(), &made?, output.get())?;
                Ok(0)
            }
            AlertCommand::Suppressions { all, output } => {
                let (_, store) = store_args.open_existing().await?;
                let listed = store.suppressions(store::now(), all).await;
                store.close().await;
                let listed = listed?;
                let mut out = std::io::stdout().lock();
                match output.get() {
                    DataFormat::Json => crate::output::write_json(
                        &mut out,
                        &serde_json::json!({ "suppressions": listed }),
                    )?,
                    DataFormat::Table => print_suppressions(&mut out, &listed)?,
                }
                Ok(0)
            }
            AlertCommand::Unsuppress { id } => {
                let (_, store) = store_args.open_existing().await?;
                let removed =
                    pipeline::suppressions::remove(&store, &id, CLI_ACTOR, store::now()).await;
                store.close().await;
                let removed = removed?;
                println!("{} removed", removed.id);
                Ok(0)
            }
            AlertCommand::Test { sink, aws } => {
                let config = Config::load_optional(store_args.config.as_deref())?;
                let spec = config
                    .sinks
                    .iter()
                    .find(|spec| spec.name == sink)
                    .with_context(|| {
                        let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
                        if names.is_empty() {
                            "the configuration has no [[sink]] tables: pass --config FILE".to_owned()
                        } else {
                            format!("no [[sink]] is named {sink:?}; the sinks are: {}", names.join(", "))
                        }
                    })?;
                let built = crate::sinks::build(spec, &aws.options_with(&config.aws)).await?;
                let sample = notify::sample_notification(store::now());
                match built.deliver(&sample).await {
                    Ok(()) => {
                        println!("sink {sink:?} took the test alert ({})", sample.alert.dedup_key);
                        Ok(0)
                    }
                    Err(error) => {
                        let hint = match &error {
                            notify::SinkError::Retryable(_) => {
                                "serve would keep retrying this; check the address and that the service is up"
                            }
                            notify::SinkError::Permanent(_) => {
                                "serve would not retry this; check the sink's credentials and settings"
                            }
                        };
                        eprintln!(
                            "sink {sink:?} did not take the test alert: {}\n  {hint}",
                            for_terminal(&error.to_string())
                        );
                        Ok(EXIT_UNHEALTHY)
                    }
                }
            }
        }
    })
}

/// The command line acts as the database's owner: an admin.
const CLI_ACTOR: pipeline::suppressions::Actor<'static> = pipeline::suppressions::Actor {
    name: "cli",
    scope: "admin",
    admin: true,
    address: None,
};

/// What an alert's table line ends with when a suppression kept it from the sinks.
pub(crate) fn suppressed_marker(suppressed_by: Option<&str>) -> String {
    suppressed_by
        .map(|id| format!("  [suppressed by {}, not sent]", for_terminal(id)))
        .unwrap_or_default()
}

/// A suppression just made: the record as JSON, or a line saying until when it holds.
pub(crate) fn print_made(
    out: &mut dyn Write,
    made: &store::SuppressionRecord,
    format: DataFormat,
) -> std::io::Result<()> {
    match format {
        DataFormat::Json => crate::output::write_json(out, made),
        DataFormat::Table => writeln!(
            out,
            "{} suppresses matching alerts until {}",
            for_terminal(&made.id),
            made.expires_at
        ),
    }
}

/// Suppressions as a table, one line each.
pub(crate) fn print_suppressions(
    out: &mut dyn Write,
    listed: &[store::SuppressionRecord],
) -> std::io::Result<()> {
    if listed.is_empty() {
        writeln!(out, "No suppression is in force.")?;
    }
    for suppression in listed {
        print_suppression(out, suppression)?;
    }
    Ok(())
}

fn print_suppression(
    out: &mut dyn Write,
    suppression: &store::SuppressionRecord,
) -> std::io::Result<()> {
    let mut conditions: Vec<String> = suppression
        .conditions()
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if suppression.covers_canaries {
        conditions.push("covers canary alerts".to_owned());
    }
    writeln!(
        out,
        "{}  until {}  {}  by {}: {}{}",
        suppression.id,
        suppression.expires_at,
        for_terminal(&conditions.join(" ")),
        for_terminal(&suppression.created_by),
        for_terminal(&suppression.reason),
        match &suppression.removed_at {
            Some(at) => format!(" (removed {at})"),
            None => String::new(),
        }
    )
}

async fn set_alert_state(
    store_args: &StoreArgs,
    dedup_key: &str,
    change: AlertStateChange,
    note: Option<String>,
) -> anyhow::Result<u8> {
    let (_, store) = store_args.open_existing().await?;
    let alert = store
        .set_alert_state(dedup_key, change, note.as_deref(), "cli", store::now())
        .await?
        .with_context(|| {
            format!("no alert has the dedup key {dedup_key:?}: `tripkey alert list` shows them")
        })?;
    println!("{} {}", alert.state, for_terminal(&alert.dedup_key));
    store.close().await;
    Ok(0)
}

/// Runs `tripkey token …`.
pub fn token(
    store_args: StoreArgs,
    remote: crate::remote::RemoteArgs,
    command: TokenCommand,
) -> anyhow::Result<u8> {
    if let Some(client) = remote.client()? {
        return crate::async_runtime()?.block_on(crate::remote::token(client, command));
    }
    crate::async_runtime()?.block_on(async {
        let (_, store) = match command {
            TokenCommand::Create { .. } => store_args.open().await?,
            _ => store_args.open_existing().await?,
        };
        let mut out = std::io::stdout().lock();
        let code = match command {
            TokenCommand::Create {
                name,
                scopes,
                pinned_labels,
                allowed_labels,
                expires,
            } => {
                let pinned: store::Labels = pinned_labels.into_iter().collect();
                let allowed: store::Labels = allowed_labels.into_iter().collect();
                server::api::tokens::check_new_token(&name, &scopes, &pinned, &allowed)
                    .map_err(|error| anyhow::anyhow!(error.message))?;
                let now = store::now();
                let (token, digest) = server::tokens::generate();
                let scope_names: Vec<&str> = scopes.iter().map(String::as_str).collect();
                store
                    .create_api_token(&store::NewApiToken {
                        name: &name,
                        sha256_hex: &digest,
                        scopes: &scope_names,
                        pinned_labels: pinned,
                        allowed_labels: allowed,
                        created_at: now,
                        expires_at: expires.map(|span| now.offset(span.millis())),
                    })
                    .await?;
                writeln!(out, "{token}")?;
                eprintln!(
                    "token {name:?} created with scope {}. It is shown once and only its SHA-256 \
                     is kept: send it as `Authorization: Bearer TOKEN`.",
                    scopes.join(" ")
                );
                0
            }
            TokenCommand::List { output } => {
                let tokens = store.api_tokens().await?;
                match output.get() {
                    DataFormat::Json => crate::output::write_json(
                        &mut out,
                        &serde_json::json!({ "tokens": tokens }),
                    )?,
                    DataFormat::Table if tokens.is_empty() => {
                        writeln!(out, "No tokens: `tripkey token create NAME` makes one.")?
                    }
                    DataFormat::Table => {
                        writeln!(
                            out,
                            "{:<24} {:<10} {:<24} {:<24} REVOKED",
                            "NAME", "SCOPES", "CREATED", "LAST USED"
                        )?;
                        for token in tokens {
                            writeln!(
                                out,
                                "{:<24} {:<10} {:<24} {:<24} {}",
                                for_terminal(&token.name),
                                token.scopes.join(","),
                                token.created_at.to_string(),
                                token
                                    .last_used_at
                                    .map_or("never".to_owned(), |at| at.to_string()),
                                token.revoked_at.map_or("-".to_owned(), |at| at.to_string()),
                            )?;
                        }
                    }
                }
                0
            }
            TokenCommand::Revoke { name } => {
                if store.revoke_api_token(&name, store::now()).await? {
                    writeln!(out, "revoked token {name:?}")?;
                    0
                } else {
                    anyhow::bail!(
                        "no live token is named {name:?}: `tripkey token list` shows them"
                    );
                }
            }
        };
        store.close().await;
        Ok(code)
    })
}

/// Runs `tripkey audit`: the newest entries of the API's audit log.
pub fn audit(args: AuditArgs) -> anyhow::Result<u8> {
    if let Some(client) = args.remote.client()? {
        return crate::async_runtime()?.block_on(crate::remote::audit(
            client,
            args.limit,
            args.output.get(),
        ));
    }
    crate::async_runtime()?.block_on(async {
        let (_, store) = args.store.open_existing().await?;
        let entries = store.audit_log(None, args.limit).await?;
        let mut out = std::io::stdout().lock();
        match args.output.get() {
            DataFormat::Json => {
                crate::output::write_json(&mut out, &serde_json::json!({ "entries": entries }))?
            }
            DataFormat::Table if entries.is_empty() => writeln!(
                out,
                "No entries yet: every mutating call to /api/v1 is recorded here."
            )?,
            DataFormat::Table => {
                writeln!(
                    out,
                    "{:<24}  {:<16}  {:<18}  {:<8}  {:<15}  OBJECT",
                    "AT", "WHO", "ACTION", "OUTCOME", "FROM"
                )?;
                for entry in &entries {
                    let outcome = serde_json::to_value(entry.outcome)?;
                    writeln!(
                        out,
                        "{:<24}  {:<16}  {:<18}  {:<8}  {:<15}  {}",
                        entry.at.to_string(),
                        for_terminal(&entry.actor),
                        entry.action,
                        outcome.as_str().unwrap_or("-"),
                        entry.address.as_deref().unwrap_or("-"),
                        for_terminal(entry.object.as_deref().unwrap_or("-"))
                    )?;
                }
            }
        }
        store.close().await;
        Ok(0)
    })
}
