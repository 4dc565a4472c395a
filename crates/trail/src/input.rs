//! Finding inputs: files named on the command line, directories walked for log files, and
//! standard input.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::s3key::TrailObjectKey;
use crate::window::ScanWindow;

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A file on disk.
    File(PathBuf),
    /// Standard input (named `-` on the command line).
    Stdin,
}

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Where to read it from.
    pub source: InputSource,
    /// The name to show: the path as found, or `-` for standard input.
    pub name: String,
    /// The size on disk (compressed size for `.gz`); `None` for standard input.
    pub size: Option<u64>,
    /// What the CloudTrail S3 key layout says about the file, when its path follows it.
    pub object_key: Option<TrailObjectKey>,
}

/// The inputs found by [`discover`], in reading order, and what was passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The inputs to read, in order.
    pub inputs: Vec<Input>,
    /// CloudTrail digest files skipped (they hold hashes, not records).
    pub skipped_digests: u64,
    /// Entries inside directories skipped: hidden, not log files by name, or CloudTrail
    /// Insights files.
    pub skipped_other: u64,
    /// Log files passed over because their name puts them outside the scan window.
    pub pruned_files: u64,
    /// Folders of CloudTrail's layout (account, region, year, month, day) passed over without
    /// listing them, because the scan window excludes all of them.
    pub pruned_folders: u64,
}

/// Why inputs could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A path named by the user does not exist.
    #[error("{}: no such file or directory (check the path; use - to read standard input)", .path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A file or directory exists but could not be examined or listed.
    #[error("cannot read {}: {source} (check its permissions, or leave it out)", .path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Expands paths into inputs: files as given, directories recursively, `-` as standard input.
///
/// Skips CloudTrail digest objects (a path component `CloudTrail-Digest`, or a name containing
/// `_CloudTrail-Digest_`) wherever they are. Inside directories, takes only files whose names
/// look like logs (`.json`, `.jsonl`, `.ndjson`, `.log`, `.txt`, or any of these gzipped, or
/// any `.gz`), and skips hidden entries and CloudTrail Insights files (`CloudTrail-Insight`,
/// which hold no API calls); a file named explicitly is always taken, unless it is a digest.
/// Symbolic links are followed, each directory is walked once.
///
/// Standard input, if named, comes first. Files follow in order of the delivery time in their
/// S3 key; files whose name does not follow the CloudTrail layout come before them, by path.
/// A path named twice is read once.
///
/// A path that does not exist, or a directory that cannot be listed, is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, DiscoverError> {
    discover_within(paths, &ScanWindow::default())
}

/// [`discover`], passing over what `window` excludes by name: inside directories, the
/// account, region, year, month and day folders of CloudTrail's layout that the window
/// excludes (not listed at all) and log files whose name puts them outside it. A file named
/// explicitly is always taken.
pub fn discover_within(paths: &[PathBuf], window: &ScanWindow) -> Result<Discovery, DiscoverError> {
    let mut walk = Walk {
        window: window.clone(),
        ..Walk::default()
    };
    let mut stdin = false;
    for path in paths {
        if path.as_os_str() == "-" {
            stdin = true;
            continue;
        }
        let metadata = fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => DiscoverError::NotFound { path: path.clone() },
            _ => DiscoverError::Io {
                path: path.clone(),
                source,
            },
        })?;
        if metadata.is_dir() {
            walk.directory(path)?;
        } else {
            walk.file(path.clone(), metadata.len());
        }
    }

    let mut files = walk.files;
    files.sort_by(|a, b| {
        let time = |found: &Found| found.object_key.as_ref().map(|key| key.delivered_at);
        time(a).cmp(&time(b)).then_with(|| a.path.cmp(&b.path))
    });
    files.dedup_by(|a, b| a.path == b.path);

    let mut inputs = Vec::with_capacity(files.len() + usize::from(stdin));
    if stdin {
        inputs.push(Input {
            source: InputSource::Stdin,
            name: "-".to_owned(),
            size: None,
            object_key: None,
        });
    }
    inputs.extend(files.into_iter().map(|found| Input {
        name: found.path.to_string_lossy().into_owned(),
        source: InputSource::File(found.path),
        size: Some(found.size),
        object_key: found.object_key,
    }));
    Ok(Discovery {
        inputs,
        skipped_digests: walk.skipped_digests,
        skipped_other: walk.skipped_other,
        pruned_files: walk.pruned_files,
        pruned_folders: walk.pruned_folders,
    })
}

/// A file to read, before ordering.
struct Found {
    path: PathBuf,
    size: u64,
    object_key: Option<TrailObjectKey>,
}

#[derive(Default)]
struct Walk {
    files: Vec<Found>,
    skipped_digests: u64,
    skipped_other: u64,
    window: ScanWindow,
    pruned_files: u64,
    pruned_folders: u64,
    // Canonical paths of the directories walked, so that symlink loops end.
    visited: HashSet<PathBuf>,
}

impl Walk {
    fn file(&mut self, path: PathBuf, size: u64) {
        if kind_of_key(&path.to_string_lossy()) == KeyKind::Digest {
            self.skipped_digests += 1;
            return;
        }
        self.files.push(Found {
            object_key: TrailObjectKey::parse(&path.to_string_lossy()),
            path,
            size,
        });
    }

    fn directory(&mut self, dir: &Path) -> Result<(), DiscoverError> {
        let io_error = |source| DiscoverError::Io {
            path: dir.to_owned(),
            source,
        };
        let canonical = fs::canonicalize(dir).map_err(io_error)?;
        if !self.visited.insert(canonical) {
            return Ok(());
        }
        let mut entries = fs::read_dir(dir)
            .map_err(io_error)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_error)?;
        // Sorted so that nested directories are walked in a stable order.
        entries.sort();
        for path in entries {
            let hidden = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with('.'));
            if hidden {
                self.skipped_other += 1;
                continue;
            }
            let metadata = match fs::metadata(&path) {
                Ok(metadata) => metadata,
                // A dangling symlink, or an entry removed while walking: nothing to read.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    self.skipped_other += 1;
                    continue;
                }
                Err(source) => return Err(DiscoverError::Io { path, source }),
            };
            if metadata.is_dir() {
                if self.window.keeps_folder(&path.to_string_lossy()) {
                    self.directory(&path)?;
                } else {
                    self.pruned_folders += 1;
                }
            } else {
                let text = path.to_string_lossy();
                match kind_of_key(&text) {
                    KeyKind::Digest => self.skipped_digests += 1,
                    KeyKind::Log if metadata.is_file() => {
                        let outside = TrailObjectKey::parse(&text)
                            .is_some_and(|key| !self.window.keeps_object(&key));
                        if outside {
                            self.pruned_files += 1;
                        } else {
                            self.file(path, metadata.len());
                        }
                    }
                    KeyKind::Log | KeyKind::Other => self.skipped_other += 1,
                }
            }
        }
        Ok(())
    }
}

/// What an object's key or a file's path says it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A log file by its extension, outside CloudTrail's digest and Insights folders.
    Log,
    /// A CloudTrail-Digest file: signatures, no records.
    Digest,
    /// Anything else: Insights events, other extensions.
    Other,
}

/// Tells what a `/`-separated key or path holds, from its folders and name.
pub fn kind_of_key(key: &str) -> KeyKind {
    if has_component(key, "CloudTrail-Digest") {
        KeyKind::Digest
    } else if has_log_extension(key) && !has_component(key, "CloudTrail-Insight") {
        KeyKind::Log
    } else {
        KeyKind::Other
    }
}

/// Whether a `/`-separated folder is one of CloudTrail's that hold no records: digests sign
/// the logs, Insights files hold other events. A listing need not go into it.
pub fn holds_no_records(folder: &str) -> bool {
    has_component(folder, "CloudTrail-Digest") || has_component(folder, "CloudTrail-Insight")
}

/// Whether CloudTrail's layout puts the file under `kind` (`CloudTrail-Digest`,
/// `CloudTrail-Insight`): a folder of that name, or `_KIND_` in the file name.
fn has_component(key: &str, kind: &str) -> bool {
    let mut parts = key.split(['/', '\\']);
    let name = parts.next_back().unwrap_or_default();
    parts.any(|folder| folder == kind) || name == kind || name.contains(&format!("_{kind}_"))
}

fn has_log_extension(key: &str) -> bool {
    let name = key.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = name.to_ascii_lowercase();
    [".gz", ".json", ".jsonl", ".ndjson", ".log", ".txt"]
        .iter()
        .any(|extension| name.ends_with(extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, relative: &str) -> PathBuf {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"{\"Records\":[]}").unwrap();
        path
    }

    fn names(discovery: &Discovery, root: &Path) -> Vec<String> {
        discovery
            .inputs
            .iter()
            .map(|input| match &input.source {
                InputSource::File(path) => path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
                InputSource::Stdin => "-".to_owned(),
            })
            .collect()
    }

    const LOGS: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/02";

    #[test]
    fn digest_and_insight_folders_hold_no_records() {
        assert!(holds_no_records("AWSLogs/111122223333/CloudTrail-Digest/"));
        assert!(holds_no_records("AWSLogs/111122223333/CloudTrail-Insight/"));
        assert!(!holds_no_records("AWSLogs/111122223333/CloudTrail/"));
    }

    #[test]
    fn walks_directories_orders_by_delivery_time_and_skips_digests_and_others() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Delivery times deliberately out of path order, across regions.
        touch(
            root,
            &format!("{LOGS}/111122223333_CloudTrail_us-east-1_20240802T0830Z_b.json.gz"),
        );
        touch(
            root,
            &format!("{LOGS}/111122223333_CloudTrail_us-east-1_20240802T0805Z_z.json.gz"),
        );
        touch(
            root,
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/08/02/111122223333_CloudTrail_eu-west-1_20240802T0815Z_a.json.gz",
        );
        touch(
            root,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240802T083000Z.json.gz",
        );
        touch(
            root,
            "stray/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240802T083000Z.json.gz",
        );
        touch(
            root,
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/08/02/111122223333_CloudTrail-Insight_us-east-1_20240802T0830Z_i.json.gz",
        );
        touch(root, "misc/b.jsonl");
        touch(root, "misc/a.JSON");
        touch(root, "misc/notes.md");
        touch(root, "misc/.hidden.json");
        touch(root, ".git/objects/x.json");

        let discovery = discover(&[root.to_owned()]).unwrap();
        assert_eq!(
            names(&discovery, root),
            [
                "misc/a.JSON",
                "misc/b.jsonl",
                &format!("{LOGS}/111122223333_CloudTrail_us-east-1_20240802T0805Z_z.json.gz"),
                "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/08/02/111122223333_CloudTrail_eu-west-1_20240802T0815Z_a.json.gz",
                &format!("{LOGS}/111122223333_CloudTrail_us-east-1_20240802T0830Z_b.json.gz"),
            ]
        );
        assert_eq!(discovery.skipped_digests, 2);
        // The Insights file, notes.md, .hidden.json and the .git directory.
        assert_eq!(discovery.skipped_other, 4);
        let first_keyed = &discovery.inputs[2];
        assert_eq!(first_keyed.size, Some(14));
        assert_eq!(
            first_keyed.object_key.as_ref().unwrap().delivered_at,
            crate::EventTime::parse("2024-08-02T08:05:00Z").unwrap()
        );
    }

    #[test]
    fn explicit_files_are_taken_whatever_their_name_and_stdin_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let odd = touch(root, "export.csv.bak");
        let hidden = touch(root, ".trail.json");
        let digest = touch(
            root,
            "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240802T083000Z.json.gz",
        );
        let discovery = discover(&[
            odd.clone(),
            PathBuf::from("-"),
            hidden,
            digest,
            odd,
            PathBuf::from("-"),
        ])
        .unwrap();
        assert_eq!(
            names(&discovery, root),
            ["-", ".trail.json", "export.csv.bak"]
        );
        assert_eq!(discovery.inputs[0].name, "-");
        assert_eq!(discovery.inputs[0].size, None);
        assert_eq!(discovery.skipped_digests, 1);
    }

    #[test]
    fn a_missing_path_is_an_error_that_names_it() {
        let error = discover(&[PathBuf::from("/nonexistent/trail.json.gz")]).unwrap_err();
        assert!(matches!(error, DiscoverError::NotFound { .. }));
        assert_eq!(
            error.to_string(),
            "/nonexistent/trail.json.gz: no such file or directory (check the path; use - to read standard input)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "logs/a.json");
        std::os::unix::fs::symlink(root.join("logs"), root.join("logs/again")).unwrap();
        let discovery = discover(&[root.to_owned()]).unwrap();
        assert_eq!(names(&discovery, root), ["logs/a.json"]);
    }
}
