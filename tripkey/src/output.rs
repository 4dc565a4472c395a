//! Writing scan results: a table for people, JSON and JSON lines for machines.

use std::io::{self, Write};

use clap::ValueEnum;
use detect::alert::Details;
use detect::Alert;
use serde::Serialize;

use crate::scan::{Problem, ScanReport, ScanStats};
use notify::escape::for_terminal;

/// Output formats of `tripkey scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal; attacker-controlled text is escaped.
    Table,
    /// One JSON document: alerts, summary and problems.
    Json,
    /// One alert per line (the summary goes to stderr).
    Jsonl,
}

/// Writes the report in the chosen format.
pub fn write_report(out: &mut dyn Write, report: &ScanReport, format: Format) -> io::Result<()> {
    match format {
        Format::Table => write_table(out, report),
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
        Format::Jsonl => write_alerts(out, &report.alerts, Format::Jsonl),
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
    }
}

fn write_table(out: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    write_alert_table(out, &report.alerts)?;
    writeln!(out)?;
    write_summary(out, &report.stats)
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
        if let Some(principal) = call.principal.as_deref().or(call.access_key_id.as_deref()) {
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
                let labels: Vec<String> = canary
                    .labels
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect();
                context(
                    "canary",
                    &format!("{} (matched by {})", canary.canary, canary.matched_by),
                )?;
                if !labels.is_empty() {
                    context("labels", &labels.join(" "))?;
                }
                if let Some(memo) = &canary.memo {
                    context("memo", memo)?;
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
        }
        if let Some(id) = &call.event_id {
            context("event id", id)?;
        }
    }
    Ok(())
}

/// The closing summary, for people.
pub fn write_summary(out: &mut dyn Write, stats: &ScanStats) -> io::Result<()> {
    let megabytes = stats.bytes_decoded as f64 / 1e6;
    let seconds = stats.seconds.max(1e-9);
    writeln!(
        out,
        "Scanned {} file{} ({} with problems, {} digest{} and {} other file{} skipped): {} records, {:.1} MB in {:.2} s ({:.1} MB/s, {:.0} records/s).",
        stats.files,
        plural(stats.files),
        stats.files_with_problems,
        stats.skipped_digests,
        plural(stats.skipped_digests),
        stats.skipped_other,
        plural(stats.skipped_other),
        stats.records,
        megabytes,
        stats.seconds,
        megabytes / seconds,
        stats.records as f64 / seconds,
    )?;
    if stats.late_records > 0 {
        writeln!(
            out,
            "{} records arrived later than the reorder window; they were examined out of order (raise --reorder-window if that matters).",
            stats.late_records
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
