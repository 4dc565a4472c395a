//! `tripkey demo`: the whole detection loop on bundled data, with no AWS account.
//!
//! The bundled trail tells one story: an EC2 instance fetches its role credentials, works
//! normally, then the credentials are stolen and probed from elsewhere; meanwhile a canary key
//! planted on a laptop is tried. The canary was minted by the offline issuer for a made-up
//! account.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::output::{self, Format};
use crate::scan;

const TRAIL: &str = include_str!("../demo/cloudtrail.json");
const CANARIES: &str = include_str!("../demo/canaries.toml");
const CONFIG: &str = include_str!("../demo/tripkey.toml");
const OBJECT_KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T1035Z_Zm9vYmFy.json";

/// Runs the demo and prints what tripkey found and why.
pub fn run() -> anyhow::Result<u8> {
    let folder = tempfile::Builder::new()
        .prefix("tripkey-demo-")
        .tempdir()
        .context("cannot create a temporary folder for the demo trail")?;
    let object = folder.path().join(OBJECT_KEY);
    std::fs::create_dir_all(object.parent().expect("the key has folders"))?;
    std::fs::write(&object, TRAIL)?;

    let config: Config = toml::from_str(CONFIG).context("the bundled demo config")?;
    let canaries = crate::canaries::parse(CANARIES, false).context("the bundled demo canaries")?;
    let registry = detect::CanaryRegistry::new(canaries)?;

    println!("tripkey demo: offline, on a bundled CloudTrail file (no AWS account needed).\n");
    println!("Canary (offline issuer, account 111122223333; labelled issuer=offline):");
    for canary in registry.canaries() {
        println!(
            "  {} {} planted at {}",
            canary.name,
            canary.access_key_id.as_deref().unwrap_or("-"),
            canary.labels.get("location").map_or("-", String::as_str)
        );
    }
    println!(
        "\nScanning {} ...\n",
        object
            .strip_prefix(folder.path())
            .unwrap_or(&object)
            .display()
    );
    let discovery = trail::discover(&[folder.path().to_path_buf()])?;
    let canary_count = registry.canaries().len() as u64;
    let mut report = scan::scan(
        discovery,
        scan::ScanOptions {
            detect: config.detect,
            canaries: Arc::new(registry),
            threads: 1,
            progress: false,
        },
    );
    report.stats.canaries = canary_count;
    report.stats.canary_sources = vec!["bundled demo canaries file".to_owned()];
    output::write_report(&mut std::io::stdout().lock(), &report, Format::Table)?;
    println!(
        "\nNext: `tripkey scan PATH --canaries FILE` on your own CloudTrail logs (see README.md)."
    );
    Ok(0)
}
