//! The host's record of what `plant` put where: what `--refresh` renews and `unplant` takes
//! out. One JSON file, mode 0600, written through the same locked atomic edit as the user's
//! files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trail::EventTime;

use crate::PlantError;

/// The state file's format version.
const VERSION: u32 = 1;

/// Everything planted on this host, and how to reach the server that issued it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PlantState {
    /// The format version.
    #[serde(default)]
    pub version: u32,
    /// The server `--refresh` talks to when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The `issuer` token `--refresh` uses when none is given: a timer has no other way to
    /// get one. The file is readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// What is planted, oldest first.
    #[serde(default)]
    pub planted: Vec<Planting>,
}

/// One canary planted in one place.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Planting {
    /// The canary's id on the server.
    pub canary_id: String,
    /// The canary's name.
    pub canary_name: String,
    /// The access key ID now planted.
    pub access_key_id: String,
    /// `iam-user`, `federation` or `role-session`.
    pub kind: String,
    /// When the planted credentials run out; `None` for an IAM user's key.
    #[serde(default)]
    pub expires_at: Option<EventTime>,
    /// Where it is.
    pub target: Target,
    /// The placement's id on the server, once recorded there.
    #[serde(default)]
    pub placement_id: Option<String>,
    /// When it was planted.
    pub planted_at: EventTime,
}

impl Planting {
    /// The profile it is planted as, when it is a profile.
    pub fn profile(&self) -> Option<&str> {
        match &self.target {
            Target::Profile { profile, .. } => Some(profile),
            Target::File { .. } => None,
        }
    }

    /// The file its credentials are in.
    pub fn path(&self) -> &Path {
        match &self.target {
            Target::Profile {
                credentials_file, ..
            } => credentials_file,
            Target::File { path, .. } => path,
        }
    }
}

/// Where a canary is planted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Target {
    /// A named profile of the AWS shared files.
    Profile {
        /// The profile's name.
        profile: String,
        /// The credentials file, as given (before its symlinks are followed).
        credentials_file: PathBuf,
        /// The line breaks put before the section.
        separator: String,
        /// The config file's section, when one was written.
        #[serde(default)]
        config: Option<ConfigSection>,
    },
    /// A whole file in another placement format.
    File {
        /// The file.
        path: PathBuf,
        /// The format's id.
        format: String,
        /// The file's length as written, to tell whether someone changed it since.
        length: u64,
    },
}

/// The `[profile NAME]` section written into the AWS config file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConfigSection {
    /// The config file, as given.
    pub path: PathBuf,
    /// The line breaks put before the section.
    pub separator: String,
    /// The region the section names.
    pub region: String,
}

impl PlantState {
    /// Reads the state at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<PlantState, PlantError> {
        match std::fs::read_to_string(path) {
            Ok(text) => PlantState::parse(path, &text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(PlantState::default()),
            Err(error) => Err(PlantError::State {
                path: path.to_owned(),
                detail: error.to_string(),
            }),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<PlantState, PlantError> {
        let state: PlantState = serde_json::from_str(text).map_err(|error| PlantError::State {
            path: path.to_owned(),
            detail: format!(
                "{error}; it is left untouched (move it away to start afresh, after taking out \
                 by hand what it lists)"
            ),
        })?;
        if state.version > VERSION {
            return Err(PlantError::State {
                path: path.to_owned(),
                detail: format!(
                    "it is version {}, written by a newer tripkey; this one reads version \
                     {VERSION}",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    /// Changes the state at `path` under its lock: `change` gets the latest state and its
    /// result is written back atomically, mode 0600.
    pub fn update<T>(
        path: &Path,
        mut change: impl FnMut(&mut PlantState) -> T,
    ) -> Result<T, PlantError> {
        let mut result = None;
        placement::file::edit(path, None, |text| {
            let mut state = match text {
                Some(text) => PlantState::parse(path, text)?,
                None => PlantState::default(),
            };
            result = Some(change(&mut state));
            state.version = VERSION;
            let mut text =
                serde_json::to_string_pretty(&state).map_err(|error| PlantError::State {
                    path: path.to_owned(),
                    detail: error.to_string(),
                })?;
            text.push('\n');
            Ok::<_, PlantError>(Some(text))
        })?;
        Ok(result.expect("the change ran"))
    }
}

/// Where the state and backups live: `$XDG_STATE_HOME/tripkey` (by default
/// `~/.local/state/tripkey`) on Linux, the application-support folder on macOS, `%LOCALAPPDATA%`
/// on Windows; away from `~/.aws`, where an attacker looking at the canary would see it.
pub fn default_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "tripkey")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_owned(),
    )
}
