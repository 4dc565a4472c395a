//! Writing a user's file so that no failure and no other writer can damage it.
//!
//! [`edit`] reads the file, asks the caller for the new text, and replaces the file
//! atomically: a temporary file in the same folder, written, given the old file's owner and
//! mode, flushed to disk, renamed over the old one, and the folder flushed so the rename
//! survives a crash. A symlink is followed, so the real file is replaced and the link stays.
//! A new file gets mode 0600 in a folder created 0700.
//!
//! Two `plant` runs exclude each other with a lock on the folder. The AWS CLI takes no lock:
//! `aws configure set` reads the file and later truncates and rewrites it in place. So after
//! the rename, `edit` looks again: if the old file was rewritten after it was read (that
//! write went to the file just replaced) or the new file no longer holds the edit (it was
//! rewritten from a stale read), the edit is applied again to what the other writer left.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`edit`] waits for another `plant` to release the folder.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long after its rename [`edit`] looks for a concurrent writer's lost update.
const SETTLE: Duration = Duration::from_millis(50);
/// How many times [`edit`] starts over after another writer changed the file.
const ATTEMPTS: usize = 8;
/// Symlinks followed before giving up on a loop.
const MAX_LINKS: usize = 40;

/// Why a file could not be read or written. The file is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An operation on the file or its folder failed.
    #[error("cannot {action} {}: {source} (nothing was changed)", path.display())]
    Io {
        /// What was being done, such as `write the new version of`.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text (line {line}); it is left untouched", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// The first line that is not UTF-8.
        line: usize,
    },
    /// The file may not be written by this user.
    #[error(
        "{} is read-only for this user; it is left untouched (make it writable, e.g. \
         `chmod u+w {}`, or choose another file)",
        path.display(),
        path.display()
    )]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// Another `plant` held the folder's lock for too long.
    #[error(
        "another tripkey process has held the lock on {} for {}s; try again when it is done",
        dir.display(),
        LOCK_WAIT.as_secs()
    )]
    Locked {
        /// The folder.
        dir: PathBuf,
    },
    /// Another writer kept changing the file while it was being written.
    #[error(
        "{} kept changing while tripkey wrote it ({ATTEMPTS} attempts); it holds the other \
         writer's version, try again",
        path.display()
    )]
    Busy {
        /// The file.
        path: PathBuf,
    },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The file a path names once its symlinks are followed; the file need not exist.
pub fn resolve(path: &Path) -> Result<PathBuf, FileError> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let target =
                    fs::read_link(&current).map_err(io_error("follow the link", &current))?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(error) => return Err(io_error("read", &current)(error)),
        }
    }
    Err(FileError::Io {
        action: "follow the links of",
        path: path.to_owned(),
        source: io::Error::other("too many levels of symbolic links"),
    })
}

/// What became of an [`edit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Edited {
    /// The file was written.
    Written,
    /// The caller had nothing to change; the file was not touched.
    Unchanged,
}

/// Replaces the file at `path` with what `change` makes of its text (`None` when it does not
/// exist yet), keeping the previous version at `backup` (mode 0600) when one is given.
///
/// `change` returns `Ok(None)` when there is nothing to do. It may run more than once, each
/// time on the latest text, when another writer changes the file meanwhile; what it returns
/// must be complete for the text it was given.
pub fn edit<E: From<FileError>>(
    path: &Path,
    backup: Option<&Path>,
    mut change: impl FnMut(Option<&str>) -> Result<Option<String>, E>,
) -> Result<Edited, E> {
    let real = resolve(path)?;
    let dir = parent(&real);
    create_private_dir(dir)?;
    let _lock = lock(dir)?;
    let mut current = read(&real)?;
    for _ in 0..ATTEMPTS {
        let text = current.text(&real)?;
        let Some(new) = change(text)? else {
            return Ok(Edited::Unchanged);
        };
        if let Some(metadata) = &current.metadata {
            if OpenOptions::new().write(true).open(&real).is_err()
                || metadata.permissions().readonly()
            {
                return Err(FileError::ReadOnly { path: real }.into());
            }
        }
        let temp = write_temp(&real, new.as_bytes(), current.metadata.as_ref())?;
        if let (Some(backup), Some(bytes)) = (backup, &current.bytes) {
            if let Err(error) = write_backup(backup, bytes) {
                let _ = fs::remove_file(&temp);
                return Err(error.into());
            }
        }
        // The last look before the rename: a writer since the read wins, and the edit is made
        // again on its text.
        let now = read(&real)?;
        if now.bytes != current.bytes {
            let _ = fs::remove_file(&temp);
            current = now;
            continue;
        }
        fs::rename(&temp, &real).map_err(|error| {
            let _ = fs::remove_file(&temp);
            io_error("replace", &real)(error)
        })?;
        sync_dir(dir)?;
        std::thread::sleep(SETTLE);
        let replaced = current.reread_replaced(&real)?;
        if replaced != current.bytes {
            current = Snapshot {
                bytes: replaced,
                ..read(&real)?
            };
            continue;
        }
        let after = read(&real)?;
        if after.bytes.as_deref() != Some(new.as_bytes()) {
            current = after;
            continue;
        }
        return Ok(Edited::Written);
    }
    Err(FileError::Busy { path: real }.into())
}

/// The folder a file is in.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A file's bytes and metadata as read, with the handle that read them, which keeps reading
/// the same file after it has been renamed over.
struct Snapshot {
    bytes: Option<Vec<u8>>,
    metadata: Option<fs::Metadata>,
    handle: Option<File>,
}

impl Snapshot {
    fn text(&self, path: &Path) -> Result<Option<&str>, FileError> {
        let Some(bytes) = &self.bytes else {
            return Ok(None);
        };
        std::str::from_utf8(bytes).map(Some).map_err(|error| {
            let line = 1 + bytes[..error.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            FileError::NotText {
                path: path.to_owned(),
                line,
            }
        })
    }

    /// The bytes of the file this snapshot read, now that another has taken its name.
    fn reread_replaced(&mut self, path: &Path) -> Result<Option<Vec<u8>>, FileError> {
        let Some(handle) = &mut self.handle else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        handle
            .rewind()
            .and_then(|()| handle.read_to_end(&mut bytes))
            .map_err(io_error("read", path))?;
        Ok(Some(bytes))
    }
}

fn read(path: &Path) -> Result<Snapshot, FileError> {
    let mut handle = match File::open(path) {
        Ok(handle) => handle,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                bytes: None,
                metadata: None,
                handle: None,
            })
        }
        Err(error) => return Err(io_error("read", path)(error)),
    };
    let metadata = handle.metadata().map_err(io_error("read", path))?;
    if !metadata.is_file() {
        return Err(FileError::Io {
            action: "write",
            path: path.to_owned(),
            source: io::Error::other("it is not a regular file"),
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    handle
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    Ok(Snapshot {
        bytes: Some(bytes),
        metadata: Some(metadata),
        handle: Some(handle),
    })
}

/// Creates `dir` and any missing parents with mode 0700; existing folders keep their mode.
fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_error("create the folder", dir))
}

/// An exclusive lock on `dir`, held until the handle drops.
fn lock(dir: &Path) -> Result<File, FileError> {
    let handle = File::open(dir).map_err(io_error("open the folder", dir))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(handle),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(FileError::Locked {
                    dir: dir.to_owned(),
                })
            }
            Err(fs::TryLockError::Error(error)) => return Err(io_error("lock", dir)(error)),
        }
    }
}

/// A hidden temporary file beside `path`, holding `bytes`, with the owner and mode of the
/// file it will replace (0600 for a new one), flushed to disk.
fn write_temp(
    path: &Path,
    bytes: &[u8],
    like: Option<&fs::Metadata>,
) -> Result<PathBuf, FileError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = parent(path);
    let temp = dir.join(format!(
        ".{name}.{}.{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temp)
        .map_err(io_error("create a temporary file in", dir))?;
    let written = (|| {
        file.write_all(bytes)?;
        #[cfg(unix)]
        if let Some(like) = like {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let mine = file.metadata()?;
            if (mine.uid(), mine.gid()) != (like.uid(), like.gid()) {
                std::os::unix::fs::fchown(&file, Some(like.uid()), Some(like.gid()))?;
            }
            file.set_permissions(fs::Permissions::from_mode(like.mode() & 0o777))?;
        }
        file.sync_all()
    })();
    if let Err(error) = written {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(FileError::Io {
            action: "write the new version of",
            path: path.to_owned(),
            source: error,
        });
    }
    Ok(temp)
}

/// Keeps `bytes` at `backup`, replacing the previous backup atomically, mode 0600.
fn write_backup(backup: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = parent(backup);
    create_private_dir(dir)?;
    let temp = write_temp(backup, bytes, None)?;
    fs::rename(&temp, backup).map_err(|error| {
        let _ = fs::remove_file(&temp);
        io_error("keep the backup", backup)(error)
    })?;
    sync_dir(dir)
}

/// Flushes a folder, so a rename in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), FileError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error("flush the folder", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    use super::*;

    fn append(line: &str) -> impl FnMut(Option<&str>) -> Result<Option<String>, FileError> + '_ {
        move |text| Ok(Some(format!("{}{line}", text.unwrap_or_default())))
    }

    #[test]
    fn a_new_file_is_0600_in_a_new_0700_folder() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("home/.aws/credentials");
        assert_eq!(edit(&path, None, append("[a]\n")).unwrap(), Edited::Written);
        assert_eq!(fs::read_to_string(&path).unwrap(), "[a]\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left");
    }

    #[test]
    fn an_existing_file_keeps_its_mode_and_a_backup_of_the_old_bytes() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, "[mine]\r\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let backup = root.path().join("state/backup");
        edit(&path, Some(&backup), append("[a]\r\n")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "[mine]\r\n[a]\r\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_to_string(&backup).unwrap(), "[mine]\r\n");
        assert_eq!(fs::metadata(&backup).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_file_of_another_user_keeps_its_owner_when_root_edits_it() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, "[theirs]\n").unwrap();
        if fs::metadata(&path).unwrap().uid() != 0 {
            // Only root can give a file away; as anyone else this is the common case, the
            // file's owner editing it, which the other tests cover.
            return;
        }
        std::os::unix::fs::chown(&path, Some(65_534), Some(65_534)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        edit(&path, None, append("[a]\n")).unwrap();
        let metadata = fs::metadata(&path).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (65_534, 65_534));
        assert_eq!(metadata.mode() & 0o777, 0o640);
        assert_eq!(fs::read_to_string(&path).unwrap(), "[theirs]\n[a]\n");
    }

    #[test]
    fn a_symlink_is_followed_and_stays_a_symlink() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("dotfiles/aws-credentials");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "[mine]\n").unwrap();
        let link = root.path().join("credentials");
        symlink("dotfiles/aws-credentials", &link).unwrap();
        edit(&link, None, append("[a]\n")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "[mine]\n[a]\n");
    }

    #[test]
    fn nothing_to_change_touches_nothing() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, "[mine]\n").unwrap();
        let before = fs::metadata(&path).unwrap();
        let outcome = edit(&path, None, |_| Ok::<_, FileError>(None)).unwrap();
        assert_eq!(outcome, Edited::Unchanged);
        assert_eq!(fs::metadata(&path).unwrap().ino(), before.ino());
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_line() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, b"[a]\nx = 1\ny = \xff\n").unwrap();
        let error = edit(&path, None, append("[b]\n")).unwrap_err();
        assert!(
            matches!(error, FileError::NotText { line: 3, .. }),
            "{error}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"[a]\nx = 1\ny = \xff\n");
    }

    #[test]
    fn a_read_only_file_is_refused_and_left_as_it_was() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, "[mine]\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        let error = edit(&path, None, append("[b]\n")).unwrap_err();
        assert!(matches!(error, FileError::ReadOnly { .. }), "{error}");
        assert!(error.to_string().contains("chmod u+w"), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "[mine]\n");
    }

    #[test]
    fn a_change_made_before_the_rename_is_edited_again_not_lost() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("credentials");
        fs::write(&path, "[mine]\n").unwrap();
        let mut calls = 0;
        edit(&path, None, |text| {
            calls += 1;
            if calls == 1 {
                // Another writer, such as `aws configure set`, rewrites the file in place.
                fs::write(&path, "[mine]\n[theirs]\n").unwrap();
            }
            Ok::<_, FileError>(Some(format!("{}[a]\n", text.unwrap())))
        })
        .unwrap();
        assert_eq!(calls, 2);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[mine]\n[theirs]\n[a]\n"
        );
    }
}
