//! `tripkey-corpus`: writes a realistic CloudTrail corpus (gzip S3 objects in the organisation
//! trail layout) with planted canary uses, instance-credential exfiltrations and denial bursts,
//! near misses that must not alert, and the ground truth, for benchmarks and end-to-end tests.

mod catalog;
mod event;
mod ids;
mod json;
mod plan;
mod render;
mod truth;
mod world;
mod write;

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

/// Writes a CloudTrail corpus with planted incidents and their ground truth.
///
/// Output: OUT/AWSLogs/o-ORG/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz (plus
/// CloudTrail-Digest objects a scanner must skip), OUT/canaries.toml, OUT/ground-truth.json and
/// OUT/manifest.json. The same seed and flags always give the same bytes.
#[derive(Debug, Parser)]
#[command(name = "tripkey-corpus", version)]
struct Args {
    /// Records to write, planted ones included (about 1.45 KB each uncompressed).
    #[arg(long, default_value_t = 700_000)]
    records: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Member accounts in the organisation.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    accounts: u16,
    /// Event-time span in hours.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(3..=24 * 366))]
    span_hours: u32,
    /// Event time of the first record (UTC, YYYY-MM-DDTHH:MM:SSZ). The default span crosses
    /// midnight, so the corpus has two date folders.
    #[arg(long, default_value = "2025-06-02T21:00:00Z")]
    start: String,
    /// Writer threads [default: all cores].
    #[arg(long)]
    jobs: Option<usize>,
    /// Deliver late, as lagging organisation trails do: one account's region an hour behind
    /// by this many minutes, and one file in twenty late by up to it [default: 0, punctual].
    #[arg(long, value_name = "MINUTES", default_value_t = 0)]
    max_lateness: u32,
    /// Replace OUT/AWSLogs if it exists.
    #[arg(long)]
    force: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let Some(start) = ids::parse_iso(&args.start) else {
        bail!("--start {:?} is not YYYY-MM-DDTHH:MM:SSZ", args.start);
    };
    let logs = args.out.join("AWSLogs");
    if logs.exists() {
        if !args.force {
            bail!(
                "{} exists; pass --force to replace it (mixing corpora would break the ground truth)",
                logs.display()
            );
        }
        fs::remove_dir_all(&logs).with_context(|| format!("removing {}", logs.display()))?;
    }
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));

    let began = Instant::now();
    let params = plan::Params {
        records: args.records,
        accounts: usize::from(args.accounts),
        span_hours: args.span_hours,
        start,
        seed: args.seed,
    };
    let plan = plan::plan(&params)?;
    let planned = began.elapsed();
    let lateness = write::Lateness {
        max_secs: i64::from(args.max_lateness) * 60,
    };
    let stats = write::write_corpus(&plan, &args.out, args.seed, jobs, lateness)?;

    let truth = truth::ground_truth(&plan, args.seed);
    fs::write(
        args.out.join("ground-truth.json"),
        serde_json::to_vec_pretty(&truth)?,
    )?;
    fs::write(args.out.join("canaries.toml"), truth::canaries_toml(&plan))?;
    let manifest = serde_json::json!({
        "generator": concat!("tripkey-corpus ", env!("CARGO_PKG_VERSION")),
        "seed": args.seed,
        "max_lateness_minutes": args.max_lateness,
        "records": stats.records,
        "files": stats.files,
        "digest_files": stats.digests,
        "bytes_uncompressed": stats.bytes,
        "bytes_gzip": stats.gz_bytes,
        "start": ids::iso(plan.start),
        "end": ids::iso(plan.end),
        "accounts": plan
            .world
            .accounts
            .iter()
            .map(|a| serde_json::json!({ "id": a.id, "name": a.name, "regions": a.regions.iter().map(|&r| world::REGIONS[r as usize]).collect::<Vec<_>>() }))
            .collect::<Vec<_>>(),
        "instances": plan.world.instances.len(),
    });
    fs::write(
        args.out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;

    let secs = began.elapsed().as_secs_f64();
    let mb = stats.bytes as f64 / 1e6;
    println!(
        "wrote {} records in {} log files (+{} digest files) under {}",
        stats.records,
        stats.files,
        stats.digests,
        args.out.join("AWSLogs").display()
    );
    println!(
        "{mb:.1} MB JSON, {:.1} MB gzip (ratio {:.1}), {} expected alerts, in {secs:.1} s ({:.0} MB/s JSON, {:.1} s planning, {jobs} threads)",
        stats.gz_bytes as f64 / 1e6,
        stats.bytes as f64 / stats.gz_bytes.max(1) as f64,
        truth["alerts"].as_array().map_or(0, Vec::len),
        mb / secs,
        planned.as_secs_f64(),
    );
    Ok(())
}
