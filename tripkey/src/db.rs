//! `tripkey db`: the database itself. `migrate` creates or updates its tables, `status` shows
//! where its schema stands, `copy` copies one database into another, empty one (from SQLite to
//! PostgreSQL, or back). The work is the store's ([`store::Location`], [`store::Store::copy_to`]);
//! this parses, calls and renders.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use notify::escape::for_terminal;
use serde::Serialize;
use store::{CopyProgress, CopyReport, Location, Migration, SchemaState, SchemaStatus};

use crate::admin::StoreArgs;
use crate::output::{DataFormat, FormatArgs};

/// Exit status of `db status` when the database needs `tripkey db migrate` (or a newer
/// tripkey): it is missing, empty, another program's, or lacks migrations.
const EXIT_NOT_CURRENT: u8 = 1;

/// Tables with fewer rows than this are copied without a progress bar.
const PROGRESS_FROM_ROWS: u64 = 10_000;

/// `tripkey db` subcommands.
#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Create tripkey's tables in the database, or bring them up to date, and say which
    /// migrations were applied.
    ///
    /// Commands that write (serve, canary create, token create) migrate the database they open
    /// on their own; this is for a new PostgreSQL database before anything else uses it, or
    /// for migrating once before starting several workers of a new release. An SQLite file is
    /// created when missing; a PostgreSQL database must exist (CREATE DATABASE) and be empty
    /// or tripkey's.
    #[command(after_help = "Examples:
  tripkey db migrate --database postgres://tripkey:PASSWORD@db.internal/tripkey
  tripkey db migrate --format json")]
    Migrate {
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Show the database's backend and location (without its password), and the migrations
    /// applied to it and still pending. Creates nothing and changes nothing.
    ///
    /// Exit status: 0 when the database is up to date, 1 when it is missing, empty, another
    /// program's, or lacks migrations (`tripkey db migrate` applies them) or has some this
    /// tripkey does not know (upgrade tripkey).
    #[command(after_help = "Examples:
  tripkey db status
  tripkey db status --database postgres://tripkey@db.internal/tripkey --format json")]
    Status {
        #[command(flatten)]
        output: FormatArgs,
    },
    /// Copy every table of one database into another, empty one: SQLite to PostgreSQL,
    /// PostgreSQL to SQLite, or between two of a kind.
    ///
    /// The target is created (SQLite) and migrated first, and must hold no rows: a copy never
    /// mixes with data already there. The source is read in one snapshot, so a serve writing
    /// to it meanwhile does not tear the copy (stop it anyway, or its later alerts stay
    /// behind). Everything is written in one transaction that commits only when every table
    /// holds as many rows as in the source; the counts are printed per table.
    #[command(after_help = "Examples:
  tripkey db copy --from ~/.local/share/tripkey/tripkey.db --to postgres://tripkey:PASSWORD@db.internal/tripkey
  TRIPKEY_COPY_TO=postgres://tripkey:PASSWORD@db.internal/tripkey tripkey db copy --format json
  tripkey db copy --from postgres://tripkey@db.internal/tripkey --to backup.db")]
    Copy(CopyArgs),
}

/// `tripkey db copy` options.
#[derive(clap::Args)]
pub struct CopyArgs {
    /// The database to copy, which must exist [default: the one --database, TRIPKEY_DATABASE
    /// or `[store]` names].
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        env = "TRIPKEY_COPY_FROM",
        hide_env_values = true
    )]
    from: Option<String>,
    /// The database to copy into: a path, sqlite:PATH or postgres://USER:PASSWORD@HOST/NAME
    /// (the environment variable keeps a password out of the process list).
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        env = "TRIPKEY_COPY_TO",
        hide_env_values = true
    )]
    to: String,
    /// Never show the progress bar (it only shows on a terminal, for large tables).
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    output: FormatArgs,
}

/// Runs `tripkey db …`.
pub fn run(store_args: StoreArgs, command: DbCommand) -> anyhow::Result<u8> {
    crate::async_runtime()?.block_on(async {
        let mut out = std::io::stdout().lock();
        match command {
            DbCommand::Migrate { output } => {
                let (_, location) = store_args.location()?;
                let (store, applied) = location.migrate().await?;
                store.close().await;
                write_migrated(&mut out, &location, &applied, output.get())?;
                Ok(0)
            }
            DbCommand::Status { output } => {
                let (_, location) = store_args.location()?;
                let status = location.status().await?;
                write_status(&mut out, &status, output.get())?;
                let current = status.state == SchemaState::Migrated
                    && status.pending.is_empty()
                    && status.unknown.is_empty();
                Ok(if current { 0 } else { EXIT_NOT_CURRENT })
            }
            DbCommand::Copy(args) => {
                let from = match &args.from {
                    Some(text) => Location::parse(text).context("--from")?,
                    None => store_args.location()?.1,
                };
                let to = Location::parse(&args.to).context("--to")?;
                let source = from.open_existing().await.context("cannot open --from")?;
                let target = to.open().await.context("cannot open --to")?;
                let mut progress =
                    Progress::new(!args.no_progress && std::io::stderr().is_terminal());
                let report = source.copy_to(&target, |event| progress.show(event)).await;
                progress.finish();
                source.close().await;
                target.close().await;
                write_copied(&mut out, &report?, args.output.get())?;
                Ok(0)
            }
        }
    })
}

/// `db migrate --format json`.
#[derive(Serialize)]
struct Migrated<'a> {
    backend: &'static str,
    location: String,
    /// The migrations this run applied, oldest first (none: it was up to date).
    applied: &'a [Migration],
}

fn write_migrated(
    out: &mut dyn Write,
    location: &Location,
    applied: &[Migration],
    format: DataFormat,
) -> anyhow::Result<()> {
    let shown = location.to_string();
    match format {
        DataFormat::Json => crate::output::write_json(
            out,
            &Migrated {
                backend: location.backend().as_str(),
                location: shown,
                applied,
            },
        )?,
        DataFormat::Table => {
            writeln!(
                out,
                "database  {} ({})",
                for_terminal(&shown),
                location.backend().as_str()
            )?;
            if applied.is_empty() {
                writeln!(out, "up to date: no migration to apply")?;
            }
            for migration in applied {
                writeln!(
                    out,
                    "applied   {:>4}  {}",
                    migration.version, migration.description
                )?;
            }
        }
    }
    Ok(())
}

fn write_status(
    out: &mut dyn Write,
    status: &SchemaStatus,
    format: DataFormat,
) -> anyhow::Result<()> {
    if format == DataFormat::Json {
        crate::output::write_json(out, status)?;
        return Ok(());
    }
    writeln!(out, "database  {}", for_terminal(&status.location))?;
    writeln!(out, "backend   {}", status.backend)?;
    let state = match status.state {
        SchemaState::Missing => {
            "missing: no database file there yet (`tripkey db migrate` creates it)"
        }
        SchemaState::Empty => "empty: no tables yet (`tripkey db migrate` creates them)",
        SchemaState::Foreign => "another program's: it holds tables that are not tripkey's",
        SchemaState::Migrated => "tripkey's",
    };
    writeln!(out, "state     {state}")?;
    let list = |migrations: &[Migration]| -> String {
        migrations
            .iter()
            .map(|m| format!("{} {}", m.version, m.description))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match status.applied.last() {
        None => writeln!(out, "applied   none")?,
        Some(last) => writeln!(
            out,
            "applied   {} (newest: {} {})",
            crate::output::count(status.applied.len() as u64, "migration"),
            last.version,
            last.description
        )?,
    }
    if status.pending.is_empty() {
        writeln!(out, "pending   none")?;
    } else {
        writeln!(
            out,
            "pending   {} (`tripkey db migrate` applies them)",
            list(&status.pending)
        )?;
    }
    if !status.unknown.is_empty() {
        writeln!(
            out,
            "unknown   {} (applied by a newer tripkey: upgrade tripkey)",
            for_terminal(&list(&status.unknown))
        )?;
    }
    Ok(())
}

fn write_copied(
    out: &mut dyn Write,
    report: &CopyReport,
    format: DataFormat,
) -> anyhow::Result<()> {
    if format == DataFormat::Json {
        crate::output::write_json(out, report)?;
        return Ok(());
    }
    writeln!(
        out,
        "copied {} to {}",
        for_terminal(&report.from),
        for_terminal(&report.to)
    )?;
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0)
        .max("TABLE".len());
    writeln!(
        out,
        "{:<width$}  {:>10}  {:>10}",
        "TABLE", "SOURCE", "TARGET"
    )?;
    for table in &report.tables {
        writeln!(
            out,
            "{:<width$}  {:>10}  {:>10}",
            table.table, table.source_rows, table.target_rows
        )?;
    }
    let total = |rows: fn(&store::TableCount) -> u64| report.tables.iter().map(rows).sum::<u64>();
    writeln!(
        out,
        "{:<width$}  {:>10}  {:>10}",
        "total",
        total(|t| t.source_rows),
        total(|t| t.target_rows)
    )?;
    Ok(())
}

/// A progress bar per large table, on stderr.
struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress { enabled, bar: None }
    }

    fn show(&mut self, event: CopyProgress<'_>) {
        match event {
            CopyProgress::Table { table, rows } => {
                self.finish();
                if self.enabled && rows >= PROGRESS_FROM_ROWS {
                    let bar = ProgressBar::new(rows);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {msg:24} {wide_bar} {pos}/{len} rows",
                        )
                        .expect("the template is valid"),
                    );
                    bar.set_message(table.to_owned());
                    self.bar = Some(bar);
                }
            }
            CopyProgress::Rows(rows) => {
                if let Some(bar) = &self.bar {
                    bar.inc(rows);
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
