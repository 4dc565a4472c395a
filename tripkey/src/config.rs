//! `tripkey.toml`: the configuration file, overridden by environment variables and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use detect::DetectConfig;
use serde::Deserialize;

/// The whole configuration file. Every table is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Detector thresholds, windows and allowlists.
    pub detect: DetectConfig,
    /// Defaults for `tripkey scan`.
    pub scan: ScanDefaults,
}

/// The `[scan]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanDefaults {
    /// The canaries file to use when `--canaries` is not given. Relative to the config file.
    pub canaries: Option<PathBuf>,
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
        if let (Some(canaries), Some(folder)) = (&config.scan.canaries, path.parent()) {
            config.scan.canaries = Some(folder.join(canaries));
        }
        Ok(config)
    }
}
