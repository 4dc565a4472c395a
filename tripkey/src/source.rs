//! `tripkey source`: the trail objects the sources could not read. `unreadable` lists those
//! being retried and those quarantined; `retry` takes quarantined ones out, so that their
//! source tries them at its next pass. The work is the store's; this parses, calls and renders.

use std::io::Write;

use notify::escape::for_terminal;
use serde::Serialize;
use store::SourceFailure;

use crate::admin::StoreArgs;
use crate::output::{DataFormat, FormatArgs};

/// `tripkey source` subcommands.
#[derive(clap::Subcommand)]
pub enum SourceCommand {
    /// List the objects the sources could not read: those tried again with backoff and those
    /// quarantined after too many failures (no longer tried until `tripkey source retry`).
    #[command(after_help = "Examples:
  tripkey source unreadable
  tripkey source unreadable --source org-trail --format json")]
    Unreadable {
        /// Only this source's objects, as its [[source]] table names it.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Take quarantined objects out of quarantine: serve tries them at the source's next
    /// pass, with a fresh count of attempts. Fix what made them unreadable first (the
    /// role's s3:GetObject, the trail's KMS key policy, a Glacier restore).
    #[command(after_help = "Examples:
  tripkey source retry                      # every quarantined object
  tripkey source retry --source org-trail
  tripkey source retry --source org-trail AWSLogs/o-abc/123456789012/CloudTrail/us-east-1/2026/12/04/x.json.gz")]
    Retry {
        /// Only this source's objects.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Only these keys [default: every quarantined object].
        #[arg(value_name = "KEY")]
        keys: Vec<String>,
        #[command(flatten)]
        output: FormatArgs,
    },
}

/// An unreadable object as `--format json` shows it.
#[derive(Serialize)]
struct UnreadableJson<'a> {
    source: &'a str,
    key: &'a str,
    state: &'static str,
    attempts: u32,
    last_error: &'a str,
    first_failed_at: String,
    last_failed_at: String,
    next_attempt_at: Option<String>,
}

fn state(failure: &SourceFailure) -> &'static str {
    if failure.quarantined_at.is_some() {
        "quarantined"
    } else {
        "retrying"
    }
}

/// Runs `tripkey source …`.
pub fn run(store_args: StoreArgs, command: SourceCommand) -> anyhow::Result<u8> {
    crate::async_runtime()?.block_on(async {
        let (_, store) = store_args.open_existing().await?;
        let mut out = std::io::stdout().lock();
        match command {
            SourceCommand::Unreadable { source, output } => {
                let failures = store.source_failures(source.as_deref()).await?;
                if output.get() == DataFormat::Json {
                    let objects: Vec<UnreadableJson> = failures
                        .iter()
                        .map(|f| UnreadableJson {
                            source: &f.source,
                            key: &f.key,
                            state: state(f),
                            attempts: f.attempts,
                            last_error: &f.last_error,
                            first_failed_at: f.first_failed_at.to_string(),
                            last_failed_at: f.last_failed_at.to_string(),
                            next_attempt_at: f
                                .quarantined_at
                                .is_none()
                                .then(|| f.next_attempt_at.to_string()),
                        })
                        .collect();
                    crate::output::write_json(&mut out, &serde_json::json!({ "objects": objects }))?;
                } else if failures.is_empty() {
                    writeln!(out, "every object the sources listed could be read")?;
                } else {
                    writeln!(
                        out,
                        "{:<16} {:<11} {:>8}  {:<20}  KEY / LAST ERROR",
                        "SOURCE", "STATE", "ATTEMPTS", "LAST FAILED"
                    )?;
                    for failure in &failures {
                        writeln!(
                            out,
                            "{:<16} {:<11} {:>8}  {:<20}  {}\n{:>60}{}",
                            for_terminal(&failure.source),
                            state(failure),
                            failure.attempts,
                            failure.last_failed_at.to_string(),
                            for_terminal(&failure.key),
                            "",
                            for_terminal(&failure.last_error)
                        )?;
                    }
                    if failures.iter().any(|f| f.quarantined_at.is_some()) {
                        writeln!(
                            out,
                            "\nquarantined objects are no longer tried: fix access, then run tripkey source retry"
                        )?;
                    }
                }
            }
            SourceCommand::Retry {
                source,
                keys,
                output,
            } => {
                let retried = store.retry_source_failures(source.as_deref(), &keys).await?;
                if output.get() == DataFormat::Json {
                    crate::output::write_json(&mut out, &serde_json::json!({ "retried": retried }))?;
                } else if retried == 0 {
                    writeln!(out, "no quarantined object matched; tripkey source unreadable lists them")?;
                } else {
                    writeln!(
                        out,
                        "{} out of quarantine: serve tries them at the source's next pass",
                        crate::output::count(retried, "object")
                    )?;
                }
            }
        }
        store.close().await;
        Ok(0)
    })
}
