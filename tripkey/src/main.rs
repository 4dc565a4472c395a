//! The `tripkey` command line: wires the reader, the detectors and the key tools together.

mod admin;
mod aws_issuer;
mod canaries;
mod canary;
mod config;
mod db;
mod demo;
mod init;
mod key;
mod output;
mod plant;
mod remote;
mod scan_progress;
mod serve;
mod setup;
mod sinks;
mod source;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use detect::{CanaryRegistry, RegistryError, Span};
use ipnet::IpNet;

use store::Location;
use trail::EventTime;

use crate::config::Config;
use crate::output::Format;

/// Scans allocate and free many small strings across threads; mimalloc's per-thread heaps cut
/// that cost by a fifth of the scan's time compared with glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when a scan found nothing.
const EXIT_CLEAN: u8 = 0;
/// Exit status when a scan raised alerts, so that a CI job can gate on it.
pub(crate) const EXIT_ALERTS: u8 = 1;
/// Exit status for usage errors: bad flags, missing paths, invalid config or canaries files.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when a scan could read no record at all from its inputs: nothing there looked
/// like CloudTrail, so "no alerts" would be a false all-clear.
const EXIT_NOTHING_READ: u8 = 3;

#[derive(Parser)]
#[command(
    name = "tripkey",
    version,
    about = "Canary AWS credentials, and CloudTrail detection of their use and of stolen instance credentials",
    long_about = "tripkey watches CloudTrail for three signs of compromise: a canary credential being \
used, an EC2 instance's role credentials being used away from the instance, and a burst of \
AccessDenied errors from one principal.\n\nStart with `tripkey demo`, or point `tripkey scan` at a \
folder of CloudTrail logs.",
    after_help = "Examples:
  tripkey demo
  tripkey scan --store ./AWSLogs/
  tripkey canary create --offline-account 111122223333 --label host=laptop-42

Exit status: 0 nothing found, 1 alerts (or a flagged check, an unhealthy sink), 2 usage or \
configuration error, 3 a scan that could read no record. Reference: README.md and docs/."
)]
struct Cli {
    /// When to colour the output: `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

/// `--color` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Whether output to a stream that `is_terminal` describes gets colour, by `--color` and
/// `NO_COLOR` (https://no-color.org: any non-empty value turns colour off).
fn colour_wanted(when: ColorWhen, is_terminal: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        }
    }
}

/// `--color` as given on the command line, read before clap parses so that clap's own help
/// and errors follow it too.
fn colour_from_arguments() -> ColorWhen {
    let arguments: Vec<String> = std::env::args().collect();
    let value = arguments.iter().enumerate().find_map(|(at, argument)| {
        argument
            .strip_prefix("--color=")
            .map(str::to_owned)
            .or_else(|| (argument == "--color").then(|| arguments.get(at + 1).cloned())?)
    });
    match value.as_deref() {
        Some("always") => ColorWhen::Always,
        Some("never") => ColorWhen::Never,
        _ => ColorWhen::Auto,
    }
}

#[derive(Subcommand)]
enum Command {
    /// Scan CloudTrail logs, local or in AWS, and report alerts.
    ///
    /// Reads files, folders (recursively) and `-` (stdin) in every shape CloudTrail data comes
    /// in: S3 trail objects ({"Records":[...]}, plain or gzip), JSON arrays, JSON lines
    /// (CloudWatch Logs exports, Logstash), and EventBridge events. Reads a trail bucket in
    /// place (s3://BUCKET[/PREFIX]) and a CloudWatch Logs group (logs://LOG_GROUP), with the
    /// default AWS credential chain or --profile. CloudTrail-Digest files are skipped. A bad
    /// file or object is reported and skipped; the scan goes on.
    ///
    /// --since, --until, --account and --region prune by key: in CloudTrail's folder layout,
    /// locally and in S3, the folders and files outside the window are not listed or read.
    ///
    /// The canaries to look for come from a canaries file (--canaries), from the canary
    /// database that `tripkey canary create` fills (--store), or from both.
    ///
    /// Exit status: 0 no alerts, 1 alerts, 2 usage error, 3 no record could be read from the
    /// inputs (nothing there is CloudTrail).
    #[command(after_help = "Examples:
  tripkey scan --canaries canaries.toml ./AWSLogs/
  tripkey scan --store s3://my-trail-bucket/AWSLogs/ --since 48h
  tripkey scan --since 2026-12-03 --until 2026-12-04 logs://aws-cloudtrail-logs
  zcat events.json.gz | tripkey scan --format jsonl -")]
    Scan(ScanArgs),
    /// Work with AWS access key IDs.
    #[command(after_help = "Example:
  tripkey key decode AKIAYVP4CIPPERUVIFXG")]
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Issue canaries and manage them: create, rotate, revoke, maintain, poll, list, show,
    /// check, capacity.
    #[command(after_help = "Examples:
  tripkey canary create --offline-account 111122223333\n  tripkey canary list --status active")]
    Canary {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(flatten)]
        remote: remote::RemoteArgs,
        #[command(subcommand)]
        command: canary::CanaryCommand,
    },
    /// Prepare an AWS account for issuing canaries (idempotent).
    #[command(after_help = "Example:
  tripkey setup aws --policy-out tripkey-policy.json")]
    Setup {
        #[command(subcommand)]
        command: SetupCommand,
    },
    /// Show the whole loop with no AWS account: canaries issued and one planted, an attack
    /// replayed, the alerts in the dashboard.
    ///
    /// Runs `serve` on a temporary folder (removed at the end) with five offline canaries, one
    /// written into a credentials file as a named profile; a second later a CloudTrail file
    /// lands in its watched folder with that canary probed, an instance's role credentials used
    /// elsewhere and a burst of AccessDenied errors. It prints the dashboard's URL and an admin
    /// token to sign in with, and runs until Ctrl-C.
    #[command(after_help = "Examples:
  tripkey demo
  tripkey demo --listen 127.0.0.1:0 --no-attack")]
    Demo(demo::DemoArgs),
    /// Write a commented tripkey.toml for a chosen setup, to start `tripkey serve` from.
    ///
    /// Values only you can fill in (queue URL, bucket, Slack webhook) are read from the
    /// environment, with examples as fallbacks, so the file passes `serve --check` as written.
    /// An existing file is never overwritten.
    #[command(after_help = "Examples:
  tripkey init --source sqs --sink slack
  tripkey init --offline --source dir --sink json-lines --output trial.toml")]
    Init(init::InitArgs),
    /// Plant a canary on this host: ask the server for one and write it where an attacker
    /// looks, as a named profile of ~/.aws/credentials (with its region in ~/.aws/config) or
    /// in another format with --format and --output.
    ///
    /// The files are read and checked before anything is issued; a file the AWS CLI could not
    /// read is left untouched, with the line named. Only a new profile is added, at the end;
    /// every other byte (comments, blank lines, CRLF, a BOM, a missing final newline) stays.
    /// Writes are locked and atomic and keep owner, mode and one backup. The placement is
    /// recorded on the server once the write succeeded, with host, user, OS and path.
    ///
    /// Exit status: 0 planted, 1 planted but not recorded on the server (--refresh retries),
    /// 2 nothing planted.
    #[command(after_help = "Examples:
  tripkey plant --server https://tripkey.corp:8470 --token \"$TOKEN\" --kind federation
  tripkey plant --profile legacy-deploy --label team=payments
  tripkey plant --format kubernetes --output secret.yaml
  tripkey plant --install-timer
  tripkey plant --refresh
  tripkey plant --list")]
    Plant(Box<plant::PlantArgs>),
    /// Take out what `tripkey plant` planted on this host, byte for byte, and tell the server.
    ///
    /// A profile tripkey did not plant, or one changed since, is never removed.
    #[command(after_help = "Examples:
  tripkey unplant --profile legacy-deploy
  tripkey unplant --all")]
    Unplant(plant::UnplantArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  tripkey completions bash > ~/.local/share/bash-completion/completions/tripkey
  tripkey completions zsh > \"${fpath[1]}/_tripkey\"
  tripkey completions fish > ~/.config/fish/completions/tripkey.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man`.
    #[command(after_help = "Example:
  tripkey man > tripkey.1 && man ./tripkey.1")]
    Man,
    /// Watch CloudTrail continuously and notify on every detection.
    ///
    /// Reads the [[source]] tables of the configuration (S3 trail buckets, SQS queues of S3 or
    /// EventBridge notifications, local folders) and POST /ingest, runs the detectors, commits
    /// each batch's alerts with the source's checkpoint, and delivers them through the
    /// [[sink]] tables (webhook, Slack, email, SNS, JSON lines) by the [[route]] tables.
    /// Also runs the last-used safety net and canary renewal. Stops cleanly on SIGTERM.
    #[command(after_help = "Examples:
  tripkey serve --config tripkey.toml --check
  tripkey serve --config tripkey.toml
  tripkey serve --sqs https://sqs.us-east-1.amazonaws.com/111122223333/trail-objects")]
    Serve(serve::ServeArgs),
    /// Show what serve has done: committed source positions, the workers sharing the database
    /// and the jobs each holds, objects the sources could not read, alerts by rule, each
    /// sink's health (failing sinks are listed, never disabled) and the latest alerts.
    ///
    /// Reads the database serve writes, so it works whether or not serve is running, and
    /// asks a running serve for its live counters (records, bytes and lag per source).
    /// Exit status: 0 healthy, 1 when a sink is failing, has refused notifications, or is
    /// removed from the config while alerts wait for it, or when a source has quarantined
    /// objects.
    #[command(after_help = "Examples:
  tripkey status --config tripkey.toml
  tripkey status --format json | jq '.sinks[] | select(.consecutive_failures > 0)'")]
    Status(admin::StatusArgs),
    /// Show the audit log: every mutating call to the HTTP API, allowed or refused, with who
    /// made it, from where, and how it ended.
    #[command(after_help = "Examples:
  tripkey audit -n 20
  tripkey audit --format json | jq '.entries[] | select(.outcome == \"denied\")'")]
    Audit(admin::AuditArgs),
    /// List alerts, or send a test alert to a sink.
    #[command(after_help = "Examples:
  tripkey alert list -n 50\n  tripkey alert test slack --config tripkey.toml")]
    Alert {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(flatten)]
        remote: remote::RemoteArgs,
        #[command(subcommand)]
        command: admin::AlertCommand,
    },
    /// Look after the database: create or update its tables (migrate), see where its schema
    /// stands (status), copy it into another database, e.g. from SQLite to PostgreSQL (copy).
    ///
    /// The database is chosen by --database (a path, sqlite:PATH or
    /// postgres://USER:PASSWORD@HOST/DATABASE), TRIPKEY_DATABASE, `[store] url` or `path` in the
    /// config file, else ~/.local/share/tripkey/tripkey.db. Passwords are never shown.
    #[command(after_help = "Examples:
  tripkey db migrate --database postgres://tripkey:PASSWORD@db.internal/tripkey
  tripkey db status
  tripkey db copy --to postgres://tripkey:PASSWORD@db.internal/tripkey")]
    Db {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// The trail objects serve's sources could not read: list them, and take quarantined ones
    /// out of quarantine to be read again.
    ///
    /// An object that cannot be read (access denied, a KMS key the role may not use, an object
    /// in Glacier) is tried again with backoff and quarantined after five failures; it never
    /// holds up the rest of its prefix.
    #[command(after_help = "Examples:
  tripkey source unreadable
  tripkey source retry --source org-trail")]
    Source {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(subcommand)]
        command: source::SourceCommand,
    },
    /// Manage API tokens: scopes admin, viewer, issuer (with pinned and allowed labels) and
    /// ingest.
    #[command(after_help = "Example:
  tripkey token create lambda-forwarder")]
    Token {
        #[command(flatten)]
        store: admin::StoreArgs,
        #[command(flatten)]
        remote: remote::RemoteArgs,
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
}

#[derive(Subcommand)]
enum SetupCommand {
    /// Check the caller, create the deny-all boundary policy, the decoy role and the federation
    /// issuer user if missing, and print the least-privilege policy tripkey needs.
    #[command(after_help = "Examples:
  tripkey setup aws --profile security-tooling --policy-out tripkey-policy.json
  tripkey setup aws --endpoint-url http://127.0.0.1:5000 --format json")]
    Aws {
        #[command(flatten)]
        aws: canary::AwsArgs,
        /// The IAM path canary users will be created under [default: `[canary] user_path`,
        /// else /service/].
        #[arg(long, value_name = "PATH")]
        user_path: Option<String>,
        /// Configuration file (tripkey.toml): its [aws] and [canary] tables apply.
        #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG")]
        config: Option<PathBuf>,
        /// Write the least-privilege policy to this file instead of the terminal.
        #[arg(long, value_name = "FILE")]
        policy_out: Option<PathBuf>,
        #[command(flatten)]
        output: output::FormatArgs,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Decode the AWS account ID an access key ID carries, as an attacker would, offline.
    ///
    /// Exit status 2 when an ID cannot be read; the others are still decoded.
    #[command(after_help = "Examples:
  tripkey key decode AKIAYVP4CIPPERUVIFXG
  tripkey key decode --format json ASIAY34FZKBOKMUTVV7A | jq -r '.keys[0].account_id'")]
    Decode {
        /// Access key IDs (AKIA…, ASIA…) or other IAM unique IDs.
        #[arg(required = true, value_name = "KEYID")]
        key_ids: Vec<String>,
        #[command(flatten)]
        output: output::FormatArgs,
    },
}

#[derive(clap::Args)]
struct ScanArgs {
    /// What to read, mixed freely: files, folders (read recursively), `-` for stdin,
    /// s3://BUCKET[/PREFIX] for a trail bucket read in place, and logs://LOG_GROUP for a
    /// CloudWatch Logs group CloudTrail delivers to.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<std::ffi::OsString>,
    /// Canaries to look for: TOML `[[canary]]` tables or a JSON list (see README.md, "Scan CloudTrail logs").
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CANARIES")]
    canaries: Option<PathBuf>,
    /// Look for the canaries of the canary database, revoked and expired ones and rotated keys
    /// included; with --canaries, those of both. This is the default when the database exists
    /// and holds canaries, and `[scan] store = true` in the config makes it so always.
    #[arg(long, conflicts_with = "no_store")]
    store: bool,
    /// Do not look for the canaries of the canary database, even when it exists.
    #[arg(long)]
    no_store: bool,
    /// The canary database --store reads: an SQLite file (a path or sqlite:PATH) or
    /// postgres://USER:PASSWORD@HOST/DATABASE; TRIPKEY_DB is read too [default: `[store] url`
    /// or `path`, else ~/.local/share/tripkey/tripkey.db].
    #[arg(
        long = "database",
        visible_alias = "db",
        value_name = "PATH_OR_URL",
        env = "TRIPKEY_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, env = "TRIPKEY_FORMAT")]
    format: Format,
    /// In the table, one line per alert instead of one per rule and canary or principal
    /// with its count, first and last times, addresses and calls.
    #[arg(long)]
    ungrouped: bool,
    /// Threads reading files [default: all cores].
    #[arg(long, short = 'j', value_name = "N", env = "TRIPKEY_THREADS")]
    threads: Option<usize>,
    /// Configuration file (tripkey.toml); flags override it.
    #[arg(long, value_name = "FILE", env = "TRIPKEY_CONFIG")]
    config: Option<PathBuf>,
    /// Never show the progress bar (it only shows when stderr is a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Denials by one principal within the window that make a burst [default: 5].
    #[arg(long, value_name = "N", env = "TRIPKEY_DENIAL_THRESHOLD")]
    denial_threshold: Option<u32>,
    /// The denial burst window, e.g. 5m [default: 5m].
    #[arg(long, value_name = "DURATION", env = "TRIPKEY_DENIAL_WINDOW")]
    denial_window: Option<Span>,
    /// The lateness horizon: how far behind the newest record a file may arrive and still give
    /// the alerts event-time order gives; later records are used where they can be and
    /// counted in the summary [default: 2h]. The order of the inputs does not otherwise
    /// matter. A longer horizon keeps more in memory while a scan runs.
    #[arg(long, value_name = "DURATION", env = "TRIPKEY_HORIZON")]
    horizon: Option<Span>,
    /// How long an instance session is tracked after EC2 assumes its role [default: 6h].
    #[arg(long, value_name = "DURATION", env = "TRIPKEY_INSTANCE_TTL")]
    instance_ttl: Option<Span>,
    /// A network whose addresses are trusted for instance credentials (repeatable), e.g. a VPN.
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    allow_cidrs: Vec<IpNet>,
    /// Keep only records from this time on: RFC 3339, a day (2026-12-03) or a span before
    /// now (72h). In CloudTrail's folder layout, files delivered before it are not read.
    #[arg(long, value_name = "TIME", value_parser = scan::parse_when)]
    since: Option<EventTime>,
    /// Keep only records up to this time (as --since). Files delivered more than the
    /// lateness horizon (--horizon) after it are not read.
    #[arg(long, value_name = "TIME", value_parser = scan::parse_when)]
    until: Option<EventTime>,
    /// Keep only this account's records (repeatable); other accounts' folders are not read.
    #[arg(long = "account", value_name = "ID", value_parser = parse_account)]
    accounts: Vec<String>,
    /// Keep only this region's records (repeatable); other regions' folders are not read.
    #[arg(long = "region", value_name = "NAME")]
    regions: Vec<String>,
    /// For s3:// and logs:// inputs: a named profile from the AWS config files instead of the
    /// default credential chain [default: `[aws] profile`].
    #[arg(long, value_name = "NAME", env = "AWS_PROFILE")]
    profile: Option<String>,
    /// For logs:// inputs: the log group's region (an S3 bucket's own region is looked up)
    /// [default: `[aws] region`, else the profile's region].
    #[arg(long, value_name = "REGION", env = "AWS_REGION")]
    aws_region: Option<String>,
    /// For s3:// and logs:// inputs: another AWS endpoint, e.g. a moto or LocalStack server
    /// [default: `[aws] endpoint_url`].
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// For s3:// inputs: objects read at once.
    #[arg(long, value_name = "N", default_value_t = tripkey_aws_sources::scan_s3::DEFAULT_PARALLEL_GETS)]
    parallel_gets: usize,
}

fn parse_account(text: &str) -> Result<String, String> {
    text.parse::<keys::AccountId>()
        .map(|account| account.to_string())
        .map_err(|error| format!("{text:?} is not an AWS account ID: {error}"))
}

fn main() -> ExitCode {
    let colour = colour_from_arguments();
    let command = Cli::command().color(match colour {
        ColorWhen::Always => clap::ColorChoice::Always,
        ColorWhen::Never => clap::ColorChoice::Never,
        ColorWhen::Auto if colour_wanted(ColorWhen::Auto, true) => clap::ColorChoice::Auto,
        ColorWhen::Auto => clap::ColorChoice::Never,
    });
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let stderr_colour = colour_wanted(
        cli.color,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    let result = match cli.command {
        Command::Scan(args) => run_scan(args),
        Command::Key {
            command: KeyCommand::Decode { key_ids, output },
        } => key::decode(&key_ids, output.get()),
        Command::Canary {
            store,
            remote,
            command,
        } => canary::run(store, remote, command),
        Command::Setup {
            command:
                SetupCommand::Aws {
                    aws,
                    user_path,
                    config,
                    policy_out,
                    output,
                },
        } => Config::load_optional(config.as_deref()).and_then(|config| {
            let user_path = user_path
                .or(config.canary.user_path)
                .unwrap_or_else(|| aws_issuer::DEFAULT_USER_PATH.to_owned());
            setup::aws(
                &aws.options_with(&config.aws),
                &user_path,
                policy_out.as_deref(),
                output.get(),
            )
        }),
        Command::Demo(args) => demo::run(args, stderr_colour),
        Command::Init(args) => init::run(args),
        Command::Plant(args) => plant::run(*args),
        Command::Unplant(args) => plant::unplant(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tripkey",
                &mut std::io::stdout(),
            );
            Ok(EXIT_CLEAN)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| EXIT_CLEAN)
            .context("cannot write the manual page"),
        Command::Serve(args) => serve::run(args, stderr_colour),
        Command::Status(args) => admin::status(args),
        Command::Alert {
            store,
            remote,
            command,
        } => admin::alert(store, remote, command),
        Command::Audit(args) => admin::audit(args),
        Command::Token {
            store,
            remote,
            command,
        } => admin::token(store, remote, command),
        Command::Db { store, command } => db::run(store, command),
        Command::Source { store, command } => source::run(store, command),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): what it wanted has been written.
        Err(error) if is_broken_pipe(&error) => ExitCode::from(EXIT_CLEAN),
        Err(error) => {
            eprintln!(
                "error: {}",
                notify::escape::for_terminal_lines(&format!("{error:#}"))
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A single-threaded async runtime for the commands that talk to AWS or the database; the scan
/// path stays synchronous.
fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run_scan(args: ScanArgs) -> anyhow::Result<u8> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let detect = &mut config.detect;
    if let Some(threshold) = args.denial_threshold {
        detect.denial.threshold = threshold;
    }
    if let Some(window) = args.denial_window {
        detect.denial.window = window;
    }
    if let Some(horizon) = args.horizon {
        detect.horizon = horizon;
    }
    if let Some(ttl) = args.instance_ttl {
        detect.exfiltration.ttl = ttl;
    }
    detect.exfiltration.allow_cidrs.extend(args.allow_cidrs);
    anyhow::ensure!(
        detect.denial.threshold >= 1,
        "the denial threshold must be at least 1"
    );

    let (database, database_by_default) = if args.no_store {
        (None, false)
    } else if args.store || config.scan.store {
        (Some(config.database(args.database.as_deref())?), false)
    } else {
        match config.database(args.database.as_deref()) {
            Ok(location) if holds_canaries(&location) => (Some(location), true),
            _ => (None, false),
        }
    };
    let canaries_file = args.canaries.as_deref().or(config.scan.canaries.as_deref());
    let canaries = load_canaries(canaries_file, database.as_ref())?;
    let mut canary_sources = Vec::new();
    if let Some(file) = canaries_file {
        canary_sources.push(format!("canaries file {}", file.display()));
    }
    if let Some(database) = &database {
        canary_sources.push(format!(
            "canary database {database}{}",
            if database_by_default {
                " (read by default because it holds canaries; --no-store skips it)"
            } else {
                ""
            }
        ));
    }
    if canaries.canaries().is_empty() {
        eprintln!(
            "warning: no canaries loaded, so canary detection is off: pass --canaries FILE, or \
             --store for the canaries `tripkey canary create` recorded (instance-credential and \
             denial-burst detection still run)"
        );
    }
    if let (Some(since), Some(until)) = (args.since, args.until) {
        anyhow::ensure!(
            since <= until,
            "--since {since} is after --until {until}: give the earlier time to --since"
        );
    }
    let window = trail::ScanWindow {
        since: args.since,
        until: args.until,
        accounts: args.accounts.iter().cloned().collect(),
        regions: args.regions.iter().cloned().collect(),
        margin: config.detect.horizon.millis(),
    };
    let aws = config.aws.options_over(
        args.profile.clone(),
        args.aws_region.clone(),
        args.endpoint_url.clone(),
    );
    let mut paths = Vec::new();
    let mut remotes: Vec<Box<dyn scan::Remote>> = Vec::new();
    // Paths stay OS strings, so a file name that is not UTF-8 can still be scanned.
    for input in &args.inputs {
        let remote = input
            .to_str()
            .and_then(|uri| tripkey_aws_sources::scan_input(uri, &aws, args.parallel_gets));
        match remote {
            Some(remote) => remotes.push(remote.map_err(anyhow::Error::msg)?),
            None => paths.push(PathBuf::from(input)),
        }
    }
    let discovery = trail::discover_within(&paths, &window).context("cannot scan")?;
    if discovery.inputs.is_empty() && !paths.is_empty() {
        eprintln!(
            "warning: no CloudTrail log files under {} ({} digests and {} other files skipped); \
             name a file explicitly to read it whatever its name",
            paths
                .iter()
                .map(|path| notify::escape::for_terminal(&path.display().to_string()).into_owned())
                .collect::<Vec<_>>()
                .join(", "),
            discovery.skipped_digests,
            discovery.skipped_other
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let canary_count = canaries.canaries().len() as u64;
    let show_progress = !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut observer = scan_progress::ScanProgress::new(show_progress);
    let mut report = scan::scan(
        discovery,
        remotes,
        scan::ScanOptions {
            detect: config.detect,
            canaries: Arc::new(canaries),
            threads,
            window,
        },
        &mut observer,
    );
    observer.finish();
    report.stats.canaries = canary_count;
    report.stats.canary_sources = canary_sources;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let grouping = if args.ungrouped {
        output::Grouping::Ungrouped
    } else {
        output::Grouping::Grouped
    };
    output::write_report(&mut out, &report, args.format, grouping)
        .context("cannot write the report")?;
    out.flush().context("cannot write the report")?;
    if matches!(args.format, Format::Jsonl | Format::Csv) {
        output::write_summary(&mut std::io::stderr(), &report.stats)?;
    }
    if report.stats.records == 0
        && (report.stats.files == 0 || report.stats.files_with_problems == report.stats.files)
    {
        let stats = &report.stats;
        if stats.files_with_problems == 0 && stats.pruned_files + stats.pruned_folders > 0 {
            eprintln!(
                "error: the window left nothing to read ({} and {} outside it), so this scan \
                 checked nothing; widen --since/--until or check --account and --region",
                output::count(stats.pruned_files, "file"),
                output::count(stats.pruned_folders, "folder"),
            );
        } else {
            eprintln!(
                "error: no CloudTrail record could be read from the inputs, so this scan \
                 checked nothing; see the problems above, and point tripkey at CloudTrail log \
                 files"
            );
        }
        return Ok(EXIT_NOTHING_READ);
    }
    Ok(if report.alerts.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_ALERTS
    })
}

/// Whether the canary database exists and holds at least one canary, so that a scan can look
/// for them without being asked. Never creates the database.
fn holds_canaries(database: &Location) -> bool {
    if database.sqlite_path().is_some_and(|path| !path.exists()) {
        return false;
    }
    let Ok(runtime) = async_runtime() else {
        return false;
    };
    runtime.block_on(async {
        let Ok(store) = database.open_existing().await else {
            return false;
        };
        let any = store
            .list(&store::CanaryFilter::default())
            .await
            .is_ok_and(|canaries| !canaries.is_empty());
        store.close().await;
        any
    })
}

/// The canaries a scan looks for: those of the canaries file, those of the canary database, or
/// both together.
fn load_canaries(
    file: Option<&Path>,
    database: Option<&Location>,
) -> anyhow::Result<CanaryRegistry> {
    let from_file = file.map(canaries::load).transpose()?;
    let Some(database) = database else {
        return Ok(from_file.unwrap_or_default());
    };
    let stored = CanaryRegistry::new(read_store(database)?)
        .with_context(|| format!("in the canary database {database}"))?;
    let (Some(file), Some(from_file)) = (file, from_file) else {
        return Ok(stored);
    };
    // Each source is consistent on its own, so a conflict here sets a canary of the file (they
    // come first) against one of the database.
    let both = from_file
        .canaries()
        .iter()
        .chain(stored.canaries())
        .cloned()
        .collect();
    CanaryRegistry::new(both).map_err(|error| match error {
        RegistryError::DuplicateName(name) => anyhow::anyhow!(
            "canary {name:?} is both in {} and in the canary database {}: if it is the same \
             canary, remove it from the canaries file (the database already watches it), else \
             rename it",
            file.display(),
            database
        ),
        RegistryError::DuplicateIdentifier {
            identifier,
            first,
            second,
        } => anyhow::anyhow!(
            "canary {first:?} of {} and canary {second:?} of the canary database {} both claim \
             {identifier:?}: if they are the same canary, remove {first:?} from the canaries file \
             (the database already watches it)",
            file.display(),
            database
        ),
        error => error.into(),
    })
}

/// Every canary in the canary database, which must already exist.
fn read_store(database: &Location) -> anyhow::Result<Vec<detect::Canary>> {
    // Opening for writing creates a missing database, and an empty one would make the scan
    // look clean.
    if let Some(path) = database.sqlite_path() {
        anyhow::ensure!(
            path.exists(),
            "there is no canary database at {}: create canaries with `tripkey canary create` \
             first, or pass --database PATH_OR_URL (or set TRIPKEY_DATABASE) to name the \
             database they are in",
            path.display()
        );
    }
    let canaries = async_runtime()?.block_on(async {
        let store = database.open_existing().await?;
        let canaries = registry::watch_list(&store).await;
        store.close().await;
        canaries
    });
    let canaries = canaries.with_context(|| format!("cannot read the canaries of {database}"))?;
    if canaries.is_empty() {
        eprintln!(
            "warning: the canary database {} holds no canaries",
            notify::escape::for_terminal(&database.to_string())
        );
    }
    Ok(canaries)
}
