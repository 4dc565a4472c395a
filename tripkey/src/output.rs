//! Writing scan results: a table for people, JSON and JSON lines for machines.

use std::io::{self, Write};

use clap::ValueEnum;
use detect::alert::Details;
use detect::Alert;
use serde::Serialize;

use notify::escape::{for_spreadsheet, for_terminal};
use scan::{Problem, ScanReport, ScanStats};

/// Output formats of `tripkey scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal; attacker-controlled text is escaped.
    Table,
    /// One JSON document: alerts, summary and problems.
    Json,
    /// One alert per line (the summary goes to stderr).
    Jsonl,
    /// One alert per row with a header, for spreadsheets (the summary goes to stderr); a
    /// cell that would start a formula is preceded by `'`.
    Csv,
}

/// Output formats of commands that print one document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    /// Aligned text for a terminal; attacker-controlled text is escaped.
    #[default]
    Table,
    /// One JSON document, in the shapes docs/cli-json.md describes.
    Json,
}

/// `--format table|json`, shared by every command that prints data.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct FormatArgs {
    /// Output format: `table` for people, `json` for scripts (shapes in docs/cli-json.md).
    #[arg(long, value_enum, default_value_t = DataFormat::Table)]
    format: DataFormat,
    /// The same as --format json.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
}

impl FormatArgs {
    /// The format asked for.
    pub fn get(self) -> DataFormat {
        if self.json {
            DataFormat::Json
        } else {
            self.format
        }
    }
}

/// Writes `value` as pretty JSON and a line break.
pub fn write_json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Seconds as a person reads a lateness: `45 s`, `12 min`, `1 h 15 min`.
pub fn duration_text(seconds: f64) -> String {
    let seconds = seconds.round() as i64;
    match seconds {
        ..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

/// "1 record", "2 records".
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", plural(n))
}

/// How the table shows alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// Repeated alerts of one rule for one canary or principal on one line, with their
    /// count, first and last times, addresses and calls.
    Grouped,
    /// One line per alert.
    Ungrouped,
}

/// Writes the report in the chosen format.
pub fn write_report(
    out: &mut dyn Write,
    report: &ScanReport,
    format: Format,
    grouping: Grouping,
) -> io::Result<()> {
    match format {
        Format::Table => {
            match grouping {
                Grouping::Grouped => write_grouped_table(out, &report.alerts)?,
                Grouping::Ungrouped => write_alert_table(out, &report.alerts)?,
            }
            writeln!(out)?;
            write_summary(out, &report.stats)
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Document<'a> {
                alerts: &'a [Alert],
                summary: &'a ScanStats,
                problems: &'a [Problem],
            }
            serde_json::to_writer_pretty(
                &mut *out,
                &Document {
                    alerts: &report.alerts,
                    summary: &report.stats,
                    problems: &report.problems,
                },
            )?;
            writeln!(out)
        }
        Format::Jsonl | Format::Csv => write_alerts(out, &report.alerts, format),
    }
}

/// Writes alerts alone (no scan summary), e.g. those of the last-used poller.
pub fn write_alerts(out: &mut dyn Write, alerts: &[Alert], format: Format) -> io::Result<()> {
    match format {
        Format::Table => write_alert_table(out, alerts),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "alerts": alerts }))?;
            writeln!(out)
        }
        Format::Jsonl => {
            for alert in alerts {
                serde_json::to_writer(&mut *out, alert)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Csv => write_csv(out, alerts),
    }
}

/// The columns of `--format csv`.
const CSV_COLUMNS: [&str; 16] = [
    "event_time",
    "severity",
    "rule",
    "status",
    "subject",
    "source_ip",
    "principal",
    "access_key_id",
    "account_id",
    "event_source",
    "event_name",
    "region",
    "error_code",
    "user_agent",
    "event_id",
    "summary",
];

fn write_csv(out: &mut dyn Write, alerts: &[Alert]) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_COLUMNS)?;
    for alert in alerts {
        let call = &alert.call;
        let optional = |value: &Option<String>| value.clone().unwrap_or_default();
        let row = [
            alert.event_time.to_string(),
            alert.severity.to_string(),
            alert.rule.as_str().to_owned(),
            alert.status.as_str().to_owned(),
            alert.subject().to_owned(),
            optional(&call.source_ip),
            optional(&call.principal),
            optional(&call.access_key_id),
            optional(&call.account_id),
            call.event_source.clone(),
            call.event_name.clone(),
            call.region.clone(),
            optional(&call.error_code),
            optional(&call.user_agent),
            optional(&call.event_id),
            alert.summary.clone(),
        ];
        writer.write_record(row.iter().map(|cell| for_spreadsheet(cell).into_owned()))?;
    }
    writer.flush()
}

/// The most distinct addresses, calls or agents a group's line lists.
const GROUP_LIST: usize = 8;

/// Distinct values in first-seen order, at most [`GROUP_LIST`], and how many more there are.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut known = std::collections::HashSet::new();
    let seen: Vec<&str> = values.filter(|value| known.insert(*value)).collect();
    let more = seen.len().saturating_sub(GROUP_LIST);
    let mut text = seen
        .iter()
        .take(GROUP_LIST)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        text.push_str(&format!(" (+{more} more)"));
    }
    text
}

/// The table with repeated alerts of one rule for one canary or principal on one line: its
/// count, first and last event times, addresses, calls and agents. A lone alert is shown as
/// in the ungrouped table.
fn write_grouped_table(out: &mut dyn Write, alerts: &[Alert]) -> io::Result<()> {
    let mut groups: Vec<Vec<&Alert>> = Vec::new();
    let mut index: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for alert in alerts {
        let slot = *index
            .entry((alert.rule.as_str(), alert.subject()))
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[slot].push(alert);
    }
    if groups.iter().all(|group| group.len() == 1) {
        return write_alert_table(out, alerts);
    }
    writeln!(
        out,
        "{:<24} {:<8} {:<32} {:<15} SUMMARY",
        "EVENT TIME", "SEVERITY", "RULE", "SOURCE IP"
    )?;
    for group in &groups {
        let [alert] = group.as_slice() else {
            write_group(out, group)?;
            continue;
        };
        write_alert_rows(out, alert)?;
    }
    Ok(())
}

fn write_group(out: &mut dyn Write, group: &[&Alert]) -> io::Result<()> {
    let first = group
        .iter()
        .map(|a| a.event_time)
        .min()
        .expect("a group is never empty");
    let last = group
        .iter()
        .map(|a| a.event_time)
        .max()
        .expect("a group is never empty");
    let lead = group[0];
    let addresses = distinct(group.iter().filter_map(|a| a.call.source_ip.as_deref()));
    writeln!(
        out,
        "{:<24} {:<8} {:<32} {:<15} {} alerts for {}",
        first.to_string(),
        lead.severity.to_string().to_uppercase(),
        lead.rule.as_str(),
        for_terminal(group[0].call.source_ip.as_deref().unwrap_or("-")),
        group.len(),
        for_terminal(lead.subject())
    )?;
    let mut context = |label: &str, value: &str| -> io::Result<()> {
        writeln!(out, "{:<24} {label:<10} {}", "", for_terminal(value))
    };
    context("last", &last.to_string())?;
    context("addresses", &addresses)?;
    context(
        "calls",
        &distinct(group.iter().map(|a| a.call.event_name.as_str())),
    )?;
    let agents = distinct(group.iter().filter_map(|a| a.call.user_agent.as_deref()));
    if !agents.is_empty() {
        context("agents", &agents)?;
    }
    if let Details::Canary(canary) = &lead.details {
        for (label, value) in planted_context(&canary.labels, &canary.memo) {
            context(label, &value)?;
        }
    }
    Ok(())
}

/// A canary's labels and memo, as context lines.
fn planted_context(
    labels: &std::collections::BTreeMap<String, String>,
    memo: &Option<String>,
) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    let labels: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if !labels.is_empty() {
        lines.push(("labels", labels.join(" ")));
    }
    if let Some(memo) = memo {
        lines.push(("memo", memo.clone()));
    }
    lines
}

fn write_alert_table(out: &mut dyn Write, alerts: &[Alert]) -> io::Result<()> {
    if alerts.is_empty() {
        writeln!(out, "No alerts.")?;
    } else {
        writeln!(
            out,
            "{:<24} {:<8} {:<32} {:<15} SUMMARY",
            "EVENT TIME", "SEVERITY", "RULE", "SOURCE IP"
        )?;
    }
    for alert in alerts {
        write_alert_rows(out, alert)?;
    }
    Ok(())
}

/// One alert of the table: its line and the context under it.
fn write_alert_rows(out: &mut dyn Write, alert: &Alert) -> io::Result<()> {
    let call = &alert.call;
    writeln!(
        out,
        "{:<24} {:<8} {:<32} {:<15} {}",
        alert.event_time.to_string(),
        alert.severity.to_string().to_uppercase(),
        alert.rule.as_str(),
        for_terminal(call.source_ip.as_deref().unwrap_or("-")),
        for_terminal(&alert.summary)
    )?;
    let mut context = |label: &str, value: &str| -> io::Result<()> {
        writeln!(out, "{:<24} {label:<10} {}", "", for_terminal(value))
    };
    if let Some(principal) = &call.principal {
        context("principal", principal)?;
    }
    if let Some(key) = &call.access_key_id {
        context("key", key)?;
    }
    context(
        "call",
        &format!(
            "{} {} in {}{}",
            call.event_source,
            call.event_name,
            call.region,
            call.error_code
                .as_deref()
                .map(|code| format!(" -> {code}"))
                .unwrap_or_default()
        ),
    )?;
    if let Some(agent) = &call.user_agent {
        context("agent", agent)?;
    }
    match &alert.details {
        Details::Canary(canary) => {
            context(
                "canary",
                &format!("{} (matched by {})", canary.canary, canary.matched_by),
            )?;
            for (label, value) in planted_context(&canary.labels, &canary.memo) {
                context(label, &value)?;
            }
        }
        Details::Exfiltration(details) => {
            context(
                "instance",
                &format!(
                    "{} locked to [{}]{}",
                    details.instance_id,
                    details.locked_ips.join(", "),
                    if details.imds_v1 { ", IMDSv1" } else { "" }
                ),
            )?;
        }
        Details::ForeignVpcEndpoint(details) => {
            context(
                "endpoint",
                &format!(
                    "{} of account {}",
                    call.vpc_endpoint_id.as_deref().unwrap_or("-"),
                    details.vpc_endpoint_account_id
                ),
            )?;
        }
        Details::DenialBurst(details) => {
            context(
                "burst",
                &format!(
                    "{} denials {} .. {}, regions {}",
                    details.count,
                    details.first_time,
                    details.last_time,
                    details.regions.join(", ")
                ),
            )?;
            context("actions", &details.event_names.join(", "))?;
        }
        Details::CanaryDrift(change) | Details::CanaryExposed(change) => {
            context("canaries", &change.canaries.join(", "))?;
            context("change", &change.describe())?;
            for (label, value) in planted_context(&change.labels, &change.memo) {
                context(label, &value)?;
            }
        }
    }
    if let Some(id) = &call.event_id {
        context("event id", id)?;
    }
    Ok(())
}

/// The closing summary, for people.
pub fn write_summary(out: &mut dyn Write, stats: &ScanStats) -> io::Result<()> {
    let megabytes = stats.bytes_decoded as f64 / 1e6;
    let seconds = stats.seconds.max(1e-9);
    writeln!(
        out,
        "Scanned {} ({} with problems, {} and {} skipped): {}, {:.1} MB in {:.2} s ({:.1} MB/s, {:.0} records/s).",
        count(stats.files, "file"),
        stats.files_with_problems,
        count(stats.skipped_digests, "digest"),
        count(stats.skipped_other, "other file"),
        count(stats.records, "record"),
        megabytes,
        stats.seconds,
        megabytes / seconds,
        stats.records as f64 / seconds,
    )?;
    if stats.objects_listed > 0 {
        writeln!(
            out,
            "S3: {} listed; the files scanned above include the ones read from it.",
            count(stats.objects_listed, "object"),
        )?;
    }
    if stats.pruned_files + stats.pruned_folders + stats.records_outside_window > 0 {
        writeln!(
            out,
            "Outside --since/--until, --account and --region: {} and {} not read, {} read and dropped.",
            count(stats.pruned_files, "file"),
            count(stats.pruned_folders, "folder"),
            count(stats.records_outside_window, "record"),
        )?;
    }
    if stats.beyond_horizon_records > 0 || stats.unplaced_denials > 0 {
        writeln!(
            out,
            "{} came more than the lateness horizon behind the newest record (up to {} behind); {} denied calls could not be counted. Alerts they touch may differ from a run in event-time order: raise --horizon to cover them.",
            count(stats.beyond_horizon_records, "record"),
            duration_text(stats.max_lateness_seconds),
            stats.unplaced_denials,
        )?;
    } else if stats.out_of_order_records > 0 {
        writeln!(
            out,
            "{} came out of event-time order (up to {} behind), all within the lateness horizon.",
            count(stats.out_of_order_records, "record"),
            duration_text(stats.max_lateness_seconds),
        )?;
    }
    if stats.canaries == 0 {
        writeln!(out, "Canaries: none loaded, so canary detection was off.")?;
    } else {
        writeln!(
            out,
            "Canaries: {} looked for, from the {}.",
            stats.canaries,
            for_terminal(&stats.canary_sources.join(" and the "))
        )?;
    }
    let total: u64 = stats.alerts_by_rule.values().sum();
    let by_rule: Vec<String> = stats
        .alerts_by_rule
        .iter()
        .map(|(rule, count)| format!("{rule} {count}"))
        .collect();
    if total == 0 {
        writeln!(out, "Alerts: none.")
    } else {
        writeln!(out, "Alerts: {total} ({}).", by_rule.join(", "))
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}
