//! Where a store's database is: an SQLite file or a PostgreSQL URL, read once from what a person
//! wrote (a flag, an environment variable, the configuration file) and shown without its
//! password wherever it is printed or logged.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::backend::{self, Backend, Pool};
use crate::{database_error, migrator, Store, StoreError};

/// Where a database is: an SQLite file, an in-memory SQLite database, or a PostgreSQL database
/// named by its URL.
///
/// Its `Display` (and `Debug`) is what messages show: the file's path, or the URL with its
/// password replaced by `***`. The password itself is only ever handed to the driver.
///
/// ```
/// use store::{Backend, Location};
///
/// let location = Location::parse("postgres://tripkey:s3cret@db.internal/tripkey").unwrap();
/// assert_eq!(location.backend(), Backend::Postgres);
/// assert_eq!(location.to_string(), "postgres://tripkey:***@db.internal/tripkey");
/// assert!(!format!("{location:?}").contains("s3cret"));
///
/// let file = Location::parse("sqlite:/var/lib/tripkey/tripkey.db").unwrap();
/// assert_eq!(file, Location::parse("/var/lib/tripkey/tripkey.db").unwrap());
/// assert_eq!(file.to_string(), "/var/lib/tripkey/tripkey.db");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Location(Target);

#[derive(Clone, PartialEq, Eq)]
enum Target {
    Sqlite(PathBuf),
    Memory,
    Postgres {
        /// The URL as given, password and all: for the driver only.
        url: String,
        /// The URL with its password redacted: for everything else.
        shown: String,
    },
}

/// One schema migration: its version (the number its file name starts with) and what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Migration {
    /// The version, e.g. `7` for `0007_detector_keys.sql`.
    pub version: i64,
    /// What the file name says after the version, e.g. `detector keys`.
    pub description: String,
}

/// What a database holds, as far as tripkey's schema goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaState {
    /// There is no SQLite file there.
    Missing,
    /// The database has no tables at all: a new one, for `tripkey db migrate`.
    Empty,
    /// It holds tables of another program and no record of tripkey's migrations.
    Foreign,
    /// It holds tripkey's tables.
    Migrated,
}

/// A database's schema compared with the migrations this binary carries: what
/// [`Location::status`] finds, changing nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The [`Location`] as messages show it (no password).
    pub location: String,
    /// What the database holds.
    pub state: SchemaState,
    /// The migrations applied to it, oldest first.
    pub applied: Vec<Migration>,
    /// The migrations this binary carries that it lacks: `tripkey db migrate` (or any command
    /// that writes) applies them.
    pub pending: Vec<Migration>,
    /// Applied migrations this binary does not know: a newer tripkey migrated it.
    pub unknown: Vec<Migration>,
}

impl Location {
    /// Reads a location: `postgres://…` or `postgresql://…` (any case) is a PostgreSQL
    /// database, `sqlite::memory:` an in-memory SQLite database, `sqlite:PATH` or
    /// `sqlite://PATH` an SQLite file, and anything else without a `SCHEME://` a path to an
    /// SQLite file. Errors, like everything else here, never show a password.
    pub fn parse(text: &str) -> Result<Location, StoreError> {
        let bad = |reason: &str| StoreError::BadLocation {
            given: backend::redact(text),
            reason: reason.to_owned(),
        };
        if text.trim().is_empty() {
            return Err(StoreError::BadLocation {
                given: format!("{text:?}"),
                reason: "it is empty; give a path, sqlite:PATH or postgres://…".to_owned(),
            });
        }
        if backend::is_postgres_url(text) {
            text.parse::<PgConnectOptions>().map_err(|e| {
                bad(&format!(
                    "it is not a PostgreSQL URL tripkey can read ({e}); write it as \
                     postgres://USER:PASSWORD@HOST:PORT/DATABASE, with `%` escapes for \
                     `@`, `:` and `/` in the password"
                ))
            })?;
            return Ok(Location(Target::Postgres {
                url: text.to_owned(),
                shown: backend::redact(text),
            }));
        }
        let sqlite = ["sqlite://", "sqlite:"].iter().find_map(|prefix| {
            text.get(..prefix.len())
                .filter(|start| start.eq_ignore_ascii_case(prefix))
                .map(|_| &text[prefix.len()..])
        });
        match sqlite {
            Some(":memory:") => Ok(Location(Target::Memory)),
            Some("") => Err(bad("it names no file; write sqlite:PATH")),
            Some(path) => Ok(Location::sqlite(path)),
            None if has_scheme(text) => Err(bad(
                "tripkey keeps its data in SQLite or PostgreSQL: give a path, sqlite:PATH, \
                 or postgres://USER:PASSWORD@HOST/DATABASE",
            )),
            None => Ok(Location::sqlite(text)),
        }
    }

    /// The SQLite file at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Location {
        Location(Target::Sqlite(path.into()))
    }

    /// Which database it is.
    pub fn backend(&self) -> Backend {
        match self.0 {
            Target::Sqlite(_) | Target::Memory => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.0 {
            Target::Sqlite(path) => Some(path),
            _ => None,
        }
    }

    /// This location with a relative SQLite path taken as relative to `folder` (the
    /// configuration file's); other locations as they are.
    pub fn relative_to(self, folder: &Path) -> Location {
        match self.0 {
            Target::Sqlite(path) if path.is_relative() => Location::sqlite(folder.join(path)),
            target => Location(target),
        }
    }

    /// Opens the database, creating an SQLite file (and its folder) when missing, and applies
    /// the migrations it lacks: what commands that write use. A PostgreSQL database must
    /// exist; its tables are created in the connection's current schema.
    pub async fn open(&self) -> Result<Store, StoreError> {
        match &self.0 {
            Target::Sqlite(path) => Store::open(path).await,
            Target::Memory => Store::open_in_memory().await,
            Target::Postgres { url, .. } => Store::connect_postgres(url).await?.migrated().await,
        }
    }

    /// Opens the database only if it is there, for commands that only read: an SQLite file
    /// must exist ([`StoreError::Missing`]), a PostgreSQL database must answer and hold
    /// tripkey's tables ([`StoreError::NotMigrated`]). Migrations it lacks are applied, as
    /// [`Location::open`] does.
    pub async fn open_existing(&self) -> Result<Store, StoreError> {
        match &self.0 {
            Target::Sqlite(path) => Store::open_existing(path).await,
            Target::Memory => Err(StoreError::Missing {
                path: PathBuf::from(":memory:"),
            }),
            Target::Postgres { url, shown } => {
                let store = Store::connect_postgres(url).await?;
                let migrated = store
                    .applied_migrations()
                    .await?
                    .is_some_and(|applied| !applied.is_empty());
                if migrated {
                    return store.migrated().await;
                }
                let empty = store.tables().await?.is_empty();
                store.close().await;
                Err(if empty {
                    StoreError::NotMigrated {
                        location: shown.clone(),
                    }
                } else {
                    StoreError::ForeignDatabase {
                        path: PathBuf::from(shown),
                    }
                })
            }
        }
    }

    /// Opens the database as [`Location::open`] does, and gives the migrations that opening
    /// applied (none when it was up to date): `tripkey db migrate`.
    pub async fn migrate(&self) -> Result<(Store, Vec<Migration>), StoreError> {
        let store = match &self.0 {
            Target::Sqlite(path) => Store::open_unmigrated(path).await?,
            Target::Memory => {
                let store = Store::open_in_memory().await?;
                return Ok((store, known_migrations(Backend::Sqlite)));
            }
            Target::Postgres { url, .. } => Store::connect_postgres(url).await?,
        };
        let applied = store.migrate().await?;
        Ok((store, applied))
    }

    /// What the database holds compared with the migrations this binary carries. It creates
    /// nothing and changes nothing: a missing SQLite file is [`SchemaState::Missing`], an
    /// existing one is read read-only. A PostgreSQL database must answer.
    pub async fn status(&self) -> Result<SchemaStatus, StoreError> {
        let known = known_migrations(self.backend());
        let (state, applied) = match &self.0 {
            Target::Sqlite(path) if !path.exists() => (SchemaState::Missing, Vec::new()),
            Target::Memory => (SchemaState::Missing, Vec::new()),
            Target::Sqlite(path) => {
                let options = SqliteConnectOptions::new().filename(path).read_only(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| database_error(Backend::Sqlite, path, e))?;
                let store = Store::unmigrated(Pool::Sqlite(pool), path.clone());
                let found = schema_of(&store).await;
                store.close().await;
                found?
            }
            Target::Postgres { url, .. } => {
                let store = Store::connect_postgres(url).await?;
                let found = schema_of(&store).await;
                store.close().await;
                found?
            }
        };
        let is_known = |m: &Migration| known.iter().any(|k| k.version == m.version);
        let (applied, unknown): (Vec<Migration>, Vec<Migration>) =
            applied.into_iter().partition(is_known);
        let pending = known
            .iter()
            .filter(|k| !applied.iter().any(|m| m.version == k.version))
            .cloned()
            .collect();
        Ok(SchemaStatus {
            backend: self.backend().as_str(),
            location: self.to_string(),
            state,
            applied,
            pending,
            unknown,
        })
    }
}

/// The state and applied migrations of an opened, unmigrated store.
async fn schema_of(store: &Store) -> Result<(SchemaState, Vec<Migration>), StoreError> {
    Ok(match store.applied_migrations().await? {
        Some(applied) => (SchemaState::Migrated, applied),
        None if store.tables().await?.is_empty() => (SchemaState::Empty, Vec::new()),
        None => (SchemaState::Foreign, Vec::new()),
    })
}

/// The migrations this binary carries for `backend`, oldest first.
pub(crate) fn known_migrations(backend: Backend) -> Vec<Migration> {
    migrator(backend)
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| Migration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect()
}

/// Whether `text` starts with a URL scheme and `://`, like `mysql://…`.
fn has_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Target::Sqlite(path) => write!(f, "{}", path.display()),
            Target::Memory => f.write_str(":memory:"),
            Target::Postgres { shown, .. } => f.write_str(shown),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl std::str::FromStr for Location {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Location, StoreError> {
        Location::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_files() {
        for text in [
            "tripkey.db",
            "/var/lib/tripkey/tripkey.db",
            "sqlite:/var/lib/tripkey/tripkey.db",
            "sqlite:///var/lib/tripkey/tripkey.db",
            "SQLite:tripkey.db",
            "./postgres:odd.db",
        ] {
            let location = Location::parse(text).unwrap();
            assert_eq!(location.backend(), Backend::Sqlite, "{text}");
            assert!(location.sqlite_path().is_some(), "{text}");
        }
        assert_eq!(
            Location::parse("sqlite:///var/x.db")
                .unwrap()
                .sqlite_path()
                .unwrap(),
            Path::new("/var/x.db")
        );
        let memory = Location::parse("sqlite::memory:").unwrap();
        assert_eq!(memory.backend(), Backend::Sqlite);
        assert_eq!(memory.sqlite_path(), None);
        assert_eq!(memory.to_string(), ":memory:");
    }

    #[test]
    fn postgres_urls_are_postgres_and_never_show_their_password() {
        let location =
            Location::parse("postgresql://tripkey:hunter2@db.example:5432/tripkey?sslmode=require")
                .unwrap();
        assert_eq!(location.backend(), Backend::Postgres);
        assert_eq!(location.sqlite_path(), None);
        let shown = location.to_string();
        assert_eq!(
            shown,
            "postgresql://tripkey:***@db.example:5432/tripkey?sslmode=require"
        );
        assert!(!format!("{location:?}").contains("hunter2"));
        let in_query = Location::parse("postgres://db/t?user=u&password=hunter2").unwrap();
        assert!(!in_query.to_string().contains("hunter2"), "{in_query}");
    }

    #[test]
    fn texts_naming_no_database_are_refused_without_their_password() {
        for text in [
            "",
            "  ",
            "mysql://root:hunter2@db/tripkey",
            "sqlite:",
            "postgres://tripkey:hunter2@db:notaport/tripkey",
        ] {
            let error = Location::parse(text).unwrap_err();
            assert!(
                matches!(error, StoreError::BadLocation { .. }),
                "{text}: {error}"
            );
            let message = error.to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
        }
    }

    #[test]
    fn relative_sqlite_paths_are_taken_from_a_folder() {
        let folder = Path::new("/etc/tripkey");
        assert_eq!(
            Location::parse("tripkey.db").unwrap().relative_to(folder),
            Location::sqlite("/etc/tripkey/tripkey.db")
        );
        assert_eq!(
            Location::parse("sqlite:/srv/t.db")
                .unwrap()
                .relative_to(folder),
            Location::sqlite("/srv/t.db")
        );
        let postgres = Location::parse("postgres://db/t").unwrap();
        assert_eq!(postgres.clone().relative_to(folder), postgres);
    }
}
