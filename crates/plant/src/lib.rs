//! The host side of planting, behind `tripkey plant` and `tripkey unplant`: ask a tripkey
//! server for a canary, write it where an attacker would look, record the placement, renew it
//! before it runs out, and take it out again.
//!
//! The user's own files come first:
//! - both AWS files are read and understood before the server is asked for anything, so a
//!   file tripkey cannot parse costs no canary;
//! - a profile is only ever added, at the end, or replaced and removed when it is still
//!   exactly what tripkey wrote ([`placement::ini`]);
//! - every write is locked and atomic, keeps owner and mode and one backup
//!   ([`placement::file`]);
//! - the placement is recorded on the server only once the write succeeded.
//!
//! What was planted where is kept in a state file ([`state`]) away from `~/.aws`.

#![warn(missing_docs)]

pub mod host;
pub mod state;
pub mod timer;

use std::path::{Path, PathBuf};

use client::{segment, ApiClient, ClientError};
use placement::file::{self, FileError};
use placement::ini::{self, EditError, FileKind, ParseError, SharedFile};
use placement::{Credentials, Format};
use serde::Serialize;
use serde_json::{json, Value};
use trail::EventTime;

pub use state::{ConfigSection, PlantState, Planting, Target};

/// How long before expiry `--refresh` renews a short-term canary (Tracebit's practice).
pub const REFRESH_WINDOW_MS: i64 = 2 * 3_600 * 1_000;

/// Why planting, refreshing or unplanting failed. Files are unchanged unless said otherwise.
#[derive(Debug, thiserror::Error)]
pub enum PlantError {
    /// A file is not one the AWS CLI would read.
    #[error("{}: {error}; the file is left untouched (fix that line, or plant into another file)", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        error: ParseError,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// A profile cannot be planted, replaced or removed.
    #[error("{}: {error}", path.display())]
    Edit {
        /// The file.
        path: PathBuf,
        /// Why.
        error: EditError,
    },
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Refused(String),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The server's answer is not what this version expects.
    #[error("the server's answer {0}")]
    Answer(String),
    /// A canary was issued but could not be planted.
    #[error(
        "canary {canary} was issued but not planted: {error}; it has no placement, so an \
         admin may revoke it (`tripkey canary revoke {canary}`)"
    )]
    NotPlanted {
        /// The canary's name.
        canary: String,
        /// Why.
        error: Box<PlantError>,
    },
    /// The state file cannot be read or written.
    #[error("the plant state {}: {detail}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Where the AWS CLI looks for its files: `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`,
/// else `~/.aws/credentials` and `~/.aws/config`.
pub fn aws_default_paths() -> Option<(PathBuf, PathBuf)> {
    let home = directories::BaseDirs::new().map(|dirs| dirs.home_dir().join(".aws"));
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    let credentials = from_env("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| home.as_ref().map(|aws| aws.join("credentials")))?;
    let config = from_env("AWS_CONFIG_FILE").or_else(|| home.map(|aws| aws.join("config")))?;
    Some((credentials, config))
}

/// What to plant and where.
#[derive(Clone, Debug)]
pub struct PlantRequest {
    /// `iam-user`, `federation` or `role-session`; the server's default when `None`.
    pub kind: Option<String>,
    /// Labels beyond the host, user, OS and location `plant` adds.
    pub labels: Vec<(String, String)>,
    /// Where.
    pub destination: Destination,
}

/// Where a canary goes.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A named profile of the AWS shared files.
    Profile {
        /// The profile; the first of the server's suggestions that neither file holds when
        /// `None`.
        profile: Option<String>,
        /// Plant as `default`: only when neither file's `default` is the user's.
        default: bool,
        /// The credentials file.
        credentials_file: PathBuf,
        /// The config file, to get the profile's region and output; `None` to leave it be.
        config_file: Option<PathBuf>,
    },
    /// A new file in another placement format.
    File {
        /// The format.
        format: Format,
        /// The file, which must not exist yet.
        path: PathBuf,
        /// The name for formats that carry one (a Kubernetes Secret's).
        name: Option<String>,
    },
}

/// A canary just planted.
#[derive(Clone, Debug, Serialize)]
pub struct Planted {
    /// What the state file now records.
    pub planting: Planting,
    /// Why the placement is not recorded on the server yet, if it is not; `--refresh`
    /// tries again.
    pub placement_pending: Option<String>,
}

/// What one `--refresh` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RefreshReport {
    /// Canaries renewed and rewritten in place.
    pub renewed: Vec<Planting>,
    /// Placements recorded on the server that an earlier run could not record.
    pub recorded: Vec<Planting>,
    /// What could not be done, each with why; the rest went on.
    pub failed: Vec<Failure>,
}

/// What one `unplant` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct UnplantReport {
    /// Taken out of its file, with the server told.
    pub removed: Vec<Planting>,
    /// Taken out of its file, but the server could not be told: remove the placement there
    /// by hand.
    pub server_not_told: Vec<Failure>,
    /// Left in place, each with why.
    pub failed: Vec<Failure>,
}

/// One planting and what went wrong with it.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The planting.
    pub planting: Planting,
    /// What went wrong.
    pub error: String,
}

/// Which plantings `unplant` takes out.
#[derive(Clone, Debug)]
pub enum Selection {
    /// The planting of this profile name.
    Profile(String),
    /// The planting in this file (a `--format` placement).
    Path(PathBuf),
    /// Every planting.
    All,
}

/// The host's planter: its state file, its backups and, when given, the server.
pub struct Planter {
    state_path: PathBuf,
    backups: PathBuf,
    client: Option<ApiClient>,
}

impl Planter {
    /// A planter keeping its state and backups in `dir`, talking to `client` when one is
    /// given.
    pub fn new(dir: &Path, client: Option<ApiClient>) -> Planter {
        Planter {
            state_path: dir.join("plant.json"),
            backups: dir.join("backups"),
            client,
        }
    }

    /// The state file.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// What is planted on this host.
    pub fn state(&self) -> Result<PlantState, PlantError> {
        PlantState::load(&self.state_path)
    }

    /// Remembers the server and token for later `--refresh` runs (the timer's).
    pub fn remember_server(&self, server: &str, token: &str) -> Result<(), PlantError> {
        PlantState::update(&self.state_path, |state| {
            state.server = Some(server.to_owned());
            state.token = Some(token.to_owned());
        })
    }

    fn client(&self) -> Result<&ApiClient, PlantError> {
        self.client.as_ref().ok_or_else(|| {
            PlantError::Refused(
                "no server to talk to: pass --server URL --token TOKEN (or set TRIPKEY_SERVER \
                 and TRIPKEY_TOKEN)"
                    .to_owned(),
            )
        })
    }

    /// The backup of `path`'s previous version, in the state folder.
    fn backup_of(&self, path: &Path) -> PathBuf {
        let real = file::resolve(path).unwrap_or_else(|_| path.to_owned());
        let name: String = real
            .to_string_lossy()
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c == ':' {
                    '%'
                } else {
                    c
                }
            })
            .collect();
        self.backups.join(name)
    }

    /// Issues a canary and plants it as `request` says. The files are read and checked
    /// first; the placement is recorded once the write succeeded.
    pub async fn plant(&self, request: &PlantRequest) -> Result<Planted, PlantError> {
        let client = self.client()?;
        let state = self.state()?;
        let plan = match &request.destination {
            Destination::Profile {
                profile,
                default,
                credentials_file,
                config_file,
            } => Some(check_profile_target(
                &state,
                profile.as_deref(),
                *default,
                credentials_file,
                config_file.as_deref(),
            )?),
            Destination::File { path, .. } => {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(PlantError::Refused(format!(
                        "{} exists; plant into a new file (tripkey does not write into an \
                         existing {} file)",
                        path.display(),
                        request_format(request).map_or("placement", Format::id)
                    )));
                }
                None
            }
        };
        let location = match &request.destination {
            Destination::Profile {
                credentials_file, ..
            } => credentials_file,
            Destination::File { path, .. } => path,
        };
        let facts = host::HostFacts::here();
        let mut labels = serde_json::Map::new();
        for (key, value) in facts.labels(location) {
            labels.insert(key, Value::String(value));
        }
        for (key, value) in &request.labels {
            labels.insert(key.clone(), Value::String(value.clone()));
        }
        let mut body = json!({ "labels": labels });
        if let Some(kind) = &request.kind {
            body["kind"] = json!(kind);
        }
        let answer = client.post("/api/v1/canaries", &body).await?;
        let issued = Issued::from_answer(&answer)?;
        let now = EventTime::from(std::time::SystemTime::now());
        let replaced = plan.as_ref().and_then(|plan| plan.replacing.clone());
        let written = (|| -> Result<(Target, Format), PlantError> {
            Ok(match &request.destination {
                Destination::Profile {
                    profile,
                    default,
                    credentials_file,
                    config_file,
                } => {
                    let plan = plan.expect("checked above");
                    if let Some(old) = &plan.replacing {
                        let target = self.replace_profile(&issued, old)?;
                        return Ok((target, Format::CREDENTIALS_PROFILE));
                    }
                    let taken = plan.taken;
                    let profile = match (profile, default) {
                        (_, true) => "default".to_owned(),
                        (Some(profile), false) => profile.clone(),
                        (None, false) => issued
                            .profile_suggestions
                            .iter()
                            .find(|name| !taken.contains(name))
                            .cloned()
                            .ok_or_else(|| {
                                PlantError::Answer(
                                    "suggests no profile name the files do not hold already; give \
                                 one with --profile"
                                        .to_owned(),
                                )
                            })?,
                    };
                    let target = self.write_profile(
                        &issued,
                        &profile,
                        credentials_file,
                        config_file.as_deref(),
                    )?;
                    (target, Format::CREDENTIALS_PROFILE)
                }
                Destination::File { format, path, name } => {
                    let name = name
                        .clone()
                        .or_else(|| issued.profile_suggestions.first().cloned())
                        .unwrap_or_else(|| "aws-credentials".to_owned());
                    let text = placement::render(*format, &issued.credentials(), &name);
                    write_new_file(path, &text)?;
                    let target = Target::File {
                        path: path.clone(),
                        format: format.id().to_owned(),
                        length: text.len() as u64,
                    };
                    (target, *format)
                }
            })
        })();
        let (target, format) = written.map_err(|error| PlantError::NotPlanted {
            canary: issued.canary_name.clone(),
            error: Box::new(error),
        })?;
        let mut planting = Planting {
            canary_id: issued.canary_id.clone(),
            canary_name: issued.canary_name.clone(),
            access_key_id: issued.access_key_id.clone(),
            kind: issued.kind.clone(),
            expires_at: issued.expires_at,
            target,
            placement_id: None,
            planted_at: now,
        };
        let recorded = self.record_placement(client, &planting, format).await;
        let placement_pending = match recorded {
            Ok(id) => {
                planting.placement_id = Some(id);
                None
            }
            Err(error) => Some(error.to_string()),
        };
        let saved = planting.clone();
        PlantState::update(&self.state_path, |state| {
            if let Some(old) = &replaced {
                state.planted.retain(|entry| entry != old);
            }
            state.planted.push(saved.clone());
        })?;
        if let Some(old) = &replaced {
            // The old canary is out of the file; its placement record goes too.
            let _ = self.tell_removed(old).await;
        }
        Ok(Planted {
            planting,
            placement_pending,
        })
    }

    /// Replaces the keys of the `default` profile tripkey planted earlier with the new
    /// canary's, in place; its config section stays as it is.
    fn replace_profile(&self, issued: &Issued, old: &Planting) -> Result<Target, PlantError> {
        let Target::Profile {
            profile,
            credentials_file,
            ..
        } = &old.target
        else {
            unreachable!("only a profile is replaced")
        };
        let old_section = planted_section(credentials_file, profile, &old.access_key_id)?;
        let new_section = ini::credentials_section(profile, &issued.credentials());
        replace_section(
            credentials_file,
            profile,
            &old_section,
            &new_section,
            &self.backup_of(credentials_file),
        )?;
        Ok(old.target.clone())
    }

    /// Writes the profile into the credentials file, then its region and output into the
    /// config file; if the second write fails, the first is undone.
    fn write_profile(
        &self,
        issued: &Issued,
        profile: &str,
        credentials_file: &Path,
        config_file: Option<&Path>,
    ) -> Result<Target, PlantError> {
        let section = ini::credentials_section(profile, &issued.credentials());
        let separator = add_section(
            credentials_file,
            FileKind::Credentials,
            profile,
            &section,
            &self.backup_of(credentials_file),
        )?
        .expect("a credentials profile is always added");
        let mut config = None;
        if let Some(config_path) = config_file {
            let config_section = config_text(profile, &issued.region);
            match add_section(
                config_path,
                FileKind::Config,
                profile,
                &config_section,
                &self.backup_of(config_path),
            ) {
                Ok(written) => {
                    config = written.map(|separator| ConfigSection {
                        path: config_path.to_owned(),
                        separator,
                        region: issued.region.clone(),
                    })
                }
                Err(error) => {
                    let _ = remove_section(
                        credentials_file,
                        FileKind::Credentials,
                        profile,
                        &section,
                        &separator,
                        &self.backup_of(credentials_file),
                    );
                    return Err(error);
                }
            }
        }
        Ok(Target::Profile {
            profile: profile.to_owned(),
            credentials_file: credentials_file.to_owned(),
            separator,
            config,
        })
    }

    async fn record_placement(
        &self,
        client: &ApiClient,
        planting: &Planting,
        format: Format,
    ) -> Result<String, PlantError> {
        let facts = host::HostFacts::here();
        let path = match &planting.target {
            Target::Profile {
                profile,
                credentials_file,
                ..
            } => format!("{} [{profile}]", absolute(credentials_file).display()),
            Target::File { path, .. } => absolute(path).display().to_string(),
        };
        let answer = client
            .post(
                &format!(
                    "/api/v1/canaries/{}/placements",
                    segment(&planting.canary_id)
                ),
                &json!({
                    "host": facts.hostname,
                    "user": facts.user,
                    "os": facts.os,
                    "path": path,
                    "format": format.id(),
                }),
            )
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PlantError::Answer("to a placement holds no id".to_owned()))
    }

    /// Renews every short-term canary planted here that runs out within
    /// [`REFRESH_WINDOW_MS`] of `now`, rewriting it in place, and records placements an
    /// earlier run could not. One failure does not stop the rest.
    pub async fn refresh(&self, now: EventTime) -> Result<RefreshReport, PlantError> {
        let state = self.state()?;
        let mut report = RefreshReport::default();
        let due: Vec<&Planting> = state
            .planted
            .iter()
            .filter(|planting| {
                planting
                    .expires_at
                    .is_some_and(|at| at.millis() - now.millis() <= REFRESH_WINDOW_MS)
                    || planting.placement_id.is_none()
            })
            .collect();
        if due.is_empty() {
            return Ok(report);
        }
        let client = self.client()?;
        for planting in due {
            let mut current = planting.clone();
            let renew_due = planting
                .expires_at
                .is_some_and(|at| at.millis() - now.millis() <= REFRESH_WINDOW_MS);
            if renew_due {
                match self.renew(client, planting).await {
                    Ok(renewed) => {
                        current = renewed;
                        report.renewed.push(current.clone());
                    }
                    Err(error) => {
                        report.failed.push(Failure {
                            planting: planting.clone(),
                            error: error.to_string(),
                        });
                        continue;
                    }
                }
            }
            if current.placement_id.is_none() {
                let format = match &current.target {
                    Target::Profile { .. } => Format::CREDENTIALS_PROFILE,
                    Target::File { format, .. } => {
                        format.parse().unwrap_or(Format::CREDENTIALS_PROFILE)
                    }
                };
                match self.record_placement(client, &current, format).await {
                    Ok(id) => {
                        current.placement_id = Some(id);
                        report.recorded.push(current.clone());
                    }
                    Err(error) => report.failed.push(Failure {
                        planting: current.clone(),
                        error: format!("the placement is still not recorded: {error}"),
                    }),
                }
            }
            if current != *planting {
                let updated = current.clone();
                let old_key = planting.access_key_id.clone();
                PlantState::update(&self.state_path, |state| {
                    if let Some(entry) = state.planted.iter_mut().find(|entry| {
                        entry.canary_id == updated.canary_id && entry.access_key_id == old_key
                    }) {
                        *entry = updated.clone();
                    }
                })?;
            }
        }
        Ok(report)
    }

    /// Renews one planting on the server and rewrites its file in place.
    async fn renew(&self, client: &ApiClient, planting: &Planting) -> Result<Planting, PlantError> {
        // Check the file first: a profile the user changed is left alone, and no renewal is
        // wasted on it.
        let old_section = match &planting.target {
            Target::Profile {
                profile,
                credentials_file,
                ..
            } => Some(planted_section(
                credentials_file,
                profile,
                &planting.access_key_id,
            )?),
            Target::File { path, length, .. } => {
                check_planted_file(path, *length, &planting.access_key_id)?;
                None
            }
        };
        let answer = client
            .post(
                &format!("/api/v1/canaries/{}/renew", segment(&planting.canary_id)),
                &json!({}),
            )
            .await?;
        let issued = Issued::from_answer(&answer)?;
        let mut renewed = planting.clone();
        renewed.access_key_id = issued.access_key_id.clone();
        renewed.expires_at = issued.expires_at;
        match (&mut renewed.target, old_section) {
            (
                Target::Profile {
                    profile,
                    credentials_file,
                    ..
                },
                Some(old),
            ) => {
                let new = ini::credentials_section(profile, &issued.credentials());
                replace_section(
                    credentials_file,
                    profile,
                    &old,
                    &new,
                    &self.backup_of(credentials_file),
                )?;
            }
            (
                Target::File {
                    path,
                    format,
                    length,
                },
                _,
            ) => {
                let format: Format = format
                    .parse()
                    .map_err(|error| PlantError::Refused(format!("{error}")))?;
                let name = issued
                    .profile_suggestions
                    .first()
                    .cloned()
                    .unwrap_or_default();
                let text = placement::render(format, &issued.credentials(), &name);
                let target = path.clone();
                file::edit(&target, None, |_| Ok::<_, PlantError>(Some(text.clone())))?;
                *length = text.len() as u64;
            }
            (Target::Profile { .. }, None) => unreachable!("a profile has its section"),
        }
        Ok(renewed)
    }

    /// Takes out what `selection` names, byte for byte, and tells the server. One failure
    /// does not stop the rest.
    pub async fn unplant(&self, selection: &Selection) -> Result<UnplantReport, PlantError> {
        let state = self.state()?;
        let chosen: Vec<&Planting> = state
            .planted
            .iter()
            .filter(|planting| match selection {
                Selection::All => true,
                Selection::Profile(name) => planting.profile() == Some(name.as_str()),
                Selection::Path(path) => planting.path() == path.as_path(),
            })
            .collect();
        if chosen.is_empty() {
            return Err(PlantError::Refused(match selection {
                Selection::All => "nothing is planted on this host".to_owned(),
                Selection::Profile(name) => format!(
                    "tripkey planted no profile {name:?} here (`tripkey plant --list` shows what \
                     it planted); a profile it did not plant is never removed"
                ),
                Selection::Path(path) => {
                    format!("tripkey planted nothing at {} here", path.display())
                }
            }));
        }
        let mut report = UnplantReport::default();
        for planting in chosen {
            if let Err(error) = self.take_out(planting) {
                report.failed.push(Failure {
                    planting: planting.clone(),
                    error: error.to_string(),
                });
                continue;
            }
            let forgotten = planting.clone();
            PlantState::update(&self.state_path, |state| {
                state.planted.retain(|entry| *entry != forgotten);
            })?;
            match self.tell_removed(planting).await {
                Ok(()) => report.removed.push(planting.clone()),
                Err(error) => report.server_not_told.push(Failure {
                    planting: planting.clone(),
                    error: error.to_string(),
                }),
            }
        }
        Ok(report)
    }

    fn take_out(&self, planting: &Planting) -> Result<(), PlantError> {
        match &planting.target {
            Target::Profile {
                profile,
                credentials_file,
                separator,
                config,
            } => {
                let section = planted_section(credentials_file, profile, &planting.access_key_id)?;
                if let Some(config) = config {
                    let config_section = config_text(profile, &config.region);
                    match remove_section(
                        &config.path,
                        FileKind::Config,
                        profile,
                        &config_section,
                        &config.separator,
                        &self.backup_of(&config.path),
                    ) {
                        // Already gone: nothing of tripkey's is left there.
                        Err(PlantError::Edit {
                            error: EditError::ProfileMissing(_),
                            ..
                        }) => {}
                        other => other?,
                    }
                }
                remove_section(
                    credentials_file,
                    FileKind::Credentials,
                    profile,
                    &section,
                    separator,
                    &self.backup_of(credentials_file),
                )
            }
            Target::File { path, length, .. } => {
                check_planted_file(path, *length, &planting.access_key_id)?;
                std::fs::remove_file(path).map_err(|source| {
                    PlantError::File(FileError::Io {
                        action: "remove",
                        path: path.clone(),
                        source,
                    })
                })
            }
        }
    }

    async fn tell_removed(&self, planting: &Planting) -> Result<(), PlantError> {
        let Some(placement) = &planting.placement_id else {
            return Ok(());
        };
        let client = self.client()?;
        match client
            .delete(&format!(
                "/api/v1/canaries/{}/placements/{}",
                segment(&planting.canary_id),
                segment(placement)
            ))
            .await
        {
            Ok(_) => Ok(()),
            Err(ClientError::Api { status: 404, .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// The format a request plants, for messages.
fn request_format(request: &PlantRequest) -> Option<Format> {
    match &request.destination {
        Destination::File { format, .. } => Some(*format),
        Destination::Profile { .. } => None,
    }
}

/// `path` made absolute against the working folder, for the placement record.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn parse(path: &Path, text: &str, kind: FileKind) -> Result<SharedFile, PlantError> {
    SharedFile::parse(text, kind).map_err(|error| PlantError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// Reads a shared file that may not exist yet.
fn read_shared(path: &Path, kind: FileKind) -> Result<SharedFile, PlantError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|error| {
            let line = 1 + error.as_bytes()[..error.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            PlantError::File(FileError::NotText {
                path: path.to_owned(),
                line,
            })
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(PlantError::File(FileError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            }))
        }
    };
    parse(path, &text, kind)
}

/// What planting a profile will do, found before anything is issued.
struct ProfilePlan {
    /// Every profile name the two files hold.
    taken: Vec<String>,
    /// The `default` profile tripkey planted earlier, which `--default` replaces in place.
    replacing: Option<Planting>,
}

/// Checks, before anything is issued, that both files parse and the profile can be planted.
fn check_profile_target(
    state: &PlantState,
    profile: Option<&str>,
    default: bool,
    credentials_file: &Path,
    config_file: Option<&Path>,
) -> Result<ProfilePlan, PlantError> {
    let credentials = read_shared(credentials_file, FileKind::Credentials)?;
    let config = config_file
        .map(|path| read_shared(path, FileKind::Config))
        .transpose()?;
    let mut taken: Vec<String> = credentials.profiles().map(str::to_owned).collect();
    if let Some(config) = &config {
        taken.extend(config.profiles().map(str::to_owned));
    }
    let name = match (profile, default) {
        (Some(_), true) => {
            return Err(PlantError::Refused(
                "give --profile or --default, not both".to_owned(),
            ))
        }
        (_, true) => Some("default"),
        (name, false) => name,
    };
    if let Some(name) = name {
        placement::check_profile_name(name).map_err(PlantError::Refused)?;
        let ours = state
            .planted
            .iter()
            .find(|planting| planting.profile() == Some(name));
        if let (Some(ours), true) = (ours, default) {
            // Checked now, so no canary is issued for a default the user has changed since.
            planted_section(credentials_file, name, &ours.access_key_id)?;
            return Ok(ProfilePlan {
                taken,
                replacing: Some(ours.clone()),
            });
        }
        if ours.is_some() {
            return Err(PlantError::Refused(format!(
                "tripkey already planted the profile {name:?} here; `tripkey plant --refresh` \
                 renews it, `tripkey unplant --profile {name}` takes it out"
            )));
        }
        if let Some(section) = credentials.profile(name) {
            return Err(PlantError::Refused(format!(
                "{} already holds the profile {name:?} (line {}), which tripkey did not plant; \
                 it is never overwritten: choose another --profile{}",
                credentials_file.display(),
                section.line,
                if default { " instead of --default" } else { "" }
            )));
        }
        let config_holds = config.as_ref().and_then(|config| config.profile(name));
        if let (Some(section), Some(path)) = (config_holds, config_file) {
            if name != "default" {
                return Err(PlantError::Refused(format!(
                    "{} already configures the profile {name:?} (line {}); choose another \
                     --profile",
                    path.display(),
                    section.line
                )));
            }
        }
    }
    Ok(ProfilePlan {
        taken,
        replacing: None,
    })
}

/// The config file's section for `profile`.
fn config_text(profile: &str, region: &str) -> String {
    let credentials = Credentials {
        access_key_id: "",
        secret_access_key: "",
        session_token: None,
        expiration: None,
        region,
    };
    placement::render(Format::CONFIG_PROFILE, &credentials, profile)
}

/// Edits a shared file under [`file::edit`]: `change` gets its parsed text and returns the new
/// text, or `None` when there is nothing (left) to do. It may run again on a racing writer's
/// text, so it must recognise its own edit already made.
fn edit_shared(
    path: &Path,
    kind: FileKind,
    backup: &Path,
    mut change: impl FnMut(&SharedFile) -> Result<Option<String>, EditError>,
) -> Result<(), PlantError> {
    file::edit(path, Some(backup), |text| {
        let parsed = parse(path, text.unwrap_or_default(), kind)?;
        change(&parsed).map_err(|error| PlantError::Edit {
            path: path.to_owned(),
            error,
        })
    })?;
    Ok(())
}

/// Adds `section` for `profile` to the file, returning the separator put before it; `None`
/// when the config file has a `[default]` already, which is left as it is: the user's region
/// stands.
fn add_section(
    path: &Path,
    kind: FileKind,
    profile: &str,
    section: &str,
    backup: &Path,
) -> Result<Option<String>, PlantError> {
    let mut separator = None;
    edit_shared(path, kind, backup, |parsed| {
        if kind == FileKind::Config && profile == "default" && parsed.profile(profile).is_some() {
            separator = None;
            return Ok(None);
        }
        // Another writer rewrote the file after this edit landed, and what it left holds the
        // section: done, with the separator of the attempt that wrote it.
        if parsed.holds(profile, section) {
            return Ok(None);
        }
        let planted = parsed.plant(profile, section)?;
        separator = Some(planted.separator);
        Ok(Some(planted.text))
    })?;
    Ok(separator)
}

/// Replaces the planted credentials section `old` of `profile` with `new`, in place.
fn replace_section(
    path: &Path,
    profile: &str,
    old: &str,
    new: &str,
    backup: &Path,
) -> Result<(), PlantError> {
    edit_shared(path, FileKind::Credentials, backup, |parsed| {
        // An earlier attempt's replacement stood, and a racing writer kept it so.
        if parsed.holds(profile, new) {
            return Ok(None);
        }
        parsed.replace(profile, old, new).map(Some)
    })
}

/// Removes the planted `section` of `profile` and its separator from the file.
fn remove_section(
    path: &Path,
    kind: FileKind,
    profile: &str,
    section: &str,
    separator: &str,
    backup: &Path,
) -> Result<(), PlantError> {
    edit_shared(path, kind, backup, |parsed| {
        // Gone already: an earlier attempt's removal stood, and a racing writer kept it so.
        if parsed.profile(profile).is_none() {
            return Ok(None);
        }
        parsed.remove(profile, section, separator).map(Some)
    })
}

/// The text of the planted profile as the file holds it now, checked to be the key tripkey
/// planted.
fn planted_section(path: &Path, profile: &str, access_key_id: &str) -> Result<String, PlantError> {
    let file = read_shared(path, FileKind::Credentials)?;
    let edit_error = |error| PlantError::Edit {
        path: path.to_owned(),
        error,
    };
    let section = file
        .profile(profile)
        .ok_or_else(|| edit_error(EditError::ProfileMissing(profile.to_owned())))?;
    let changed = |why: &str| {
        edit_error(EditError::Changed {
            profile: profile.to_owned(),
            line: section.line,
            why: why.to_owned(),
        })
    };
    if section.get("aws_access_key_id") != Some(access_key_id) {
        return Err(changed("it holds another access key"));
    }
    ini::credentials_section_of(profile, section)
        .ok_or_else(|| changed("it holds keys tripkey did not write"))
}

/// Checks that a `--format` file is still the one tripkey wrote.
fn check_planted_file(path: &Path, length: u64, access_key_id: &str) -> Result<(), PlantError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        PlantError::File(FileError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })
    })?;
    if text.len() as u64 != length || !text.contains(access_key_id) {
        return Err(PlantError::Refused(format!(
            "{} was changed since tripkey wrote it; it is left as it is",
            path.display()
        )));
    }
    Ok(())
}

/// Writes a new placement file: 0600, atomically, refusing to replace one that appeared.
fn write_new_file(path: &Path, text: &str) -> Result<(), PlantError> {
    file::edit(path, None, |existing| match existing {
        Some(_) => Err(PlantError::Refused(format!(
            "{} appeared while tripkey was writing it; it is left as it is",
            path.display()
        ))),
        None => Ok(Some(text.to_owned())),
    })?;
    Ok(())
}

/// The parts of an issue or renew answer planting needs.
struct Issued {
    canary_id: String,
    canary_name: String,
    kind: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expires_at: Option<EventTime>,
    expiration: Option<String>,
    region: String,
    profile_suggestions: Vec<String>,
}

impl Issued {
    fn from_answer(answer: &Value) -> Result<Issued, PlantError> {
        let text = |pointer: &str| {
            answer
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let required = |pointer: &str| {
            text(pointer).ok_or_else(|| PlantError::Answer(format!("holds no {pointer}")))
        };
        let expiration = text("/credentials/expiration");
        let expires_at = expiration
            .as_deref()
            .map(|at| {
                EventTime::parse(at).map_err(|error| {
                    PlantError::Answer(format!("has an expiration {at:?}: {error}"))
                })
            })
            .transpose()?;
        Ok(Issued {
            canary_id: required("/canary/id")?,
            canary_name: required("/canary/name")?,
            kind: required("/canary/kind")?,
            access_key_id: required("/credentials/access_key_id")?,
            secret_access_key: required("/credentials/secret_access_key")?,
            session_token: text("/credentials/session_token"),
            expires_at,
            expiration,
            region: required("/credentials/region")?,
            profile_suggestions: answer["profile_suggestions"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|name| placement::check_profile_name(name).is_ok())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    fn credentials(&self) -> Credentials<'_> {
        Credentials {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: self.session_token.as_deref(),
            expiration: self.expiration.as_deref(),
            region: &self.region,
        }
    }
}
