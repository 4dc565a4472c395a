//! What can go wrong with the store, worded as what to do about it.

use std::path::PathBuf;

use crate::model::CanaryId;

/// An error from the canary store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the SQLite database's write lock past the busy timeout.
    #[error(
        "the database {} is locked by another process (is another `tripkey serve` running on it?); \
         stop that process or point tripkey at another database",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The SQLite file exists but is not SQLite, or is damaged.
    #[error(
        "{} is not a tripkey database (it is not SQLite, or it is damaged); \
         pass the path of a tripkey database or of a file to create",
        path.display()
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// A command that only reads was pointed at an SQLite database that does not exist.
    #[error(
        "there is no tripkey database at {} yet: create canaries with `tripkey canary create` \
         or start `tripkey serve` to make one there, or pass --database PATH_OR_URL (or set \
         TRIPKEY_DATABASE) to name the one you use",
        path.display()
    )]
    Missing {
        /// Where the database was looked for.
        path: PathBuf,
    },
    /// A command that only reads was pointed at a PostgreSQL database without tripkey's
    /// tables.
    #[error(
        "the PostgreSQL database {location} has no tripkey tables yet: run `tripkey db migrate \
         --database URL` to create them (or `tripkey db copy --to URL` to fill it from the \
         database you use now), or pass --database PATH_OR_URL (or set TRIPKEY_DATABASE) to \
         name the one you use"
    )]
    NotMigrated {
        /// The URL without its password.
        location: String,
    },
    /// A text that names no database tripkey can use.
    #[error("{given} does not name a database: {reason}")]
    BadLocation {
        /// What was given, without its password.
        given: String,
        /// What is wrong with it and what to write instead.
        reason: String,
    },
    /// The database holds another program's tables (for PostgreSQL, in the current schema)
    /// and no record of tripkey's migrations.
    #[error(
        "{} is a database of another program, not of tripkey; pass the path of a tripkey \
         database or of a file to create (for PostgreSQL, a database that is tripkey's or empty)",
        path.display()
    )]
    ForeignDatabase {
        /// The SQLite file, or the PostgreSQL URL without its password.
        path: PathBuf,
    },
    /// A newer tripkey has migrated the database past what this binary knows.
    #[error(
        "the database {} has schema version {found}, newer than this tripkey knows (up to {known}); \
         upgrade tripkey",
        path.display()
    )]
    NewerSchema {
        /// The SQLite file, or the PostgreSQL URL without its password.
        path: PathBuf,
        /// The newest migration applied to it.
        found: i64,
        /// The newest migration this binary carries.
        known: i64,
    },
    /// Applying the schema migrations failed.
    #[error("could not bring the database {} up to date: {source}", path.display())]
    Migration {
        /// The SQLite file, or the PostgreSQL URL without its password.
        path: PathBuf,
        /// What the migrator reported.
        source: sqlx::migrate::MigrateError,
    },
    /// The SQLite file or its directory could not be created.
    #[error("could not create {}: {source}", path.display())]
    Create {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Any other database failure.
    #[error("database error on {}: {source}", path.display())]
    Database {
        /// The SQLite file, or the PostgreSQL URL without its password.
        path: PathBuf,
        /// What the database or its driver reported.
        source: sqlx::Error,
    },
    /// A copy was asked from a database into itself.
    #[error("{location} is both the source and the target of the copy; name another database to copy to")]
    SameDatabase {
        /// The database, as messages show it.
        location: String,
    },
    /// The two databases of a copy do not have the same tables and columns, or a value does
    /// not fit the target's column.
    #[error("cannot copy {from} to {to}: {reason}")]
    CopyIncompatible {
        /// The source, as messages show it.
        from: String,
        /// The target, as messages show it.
        to: String,
        /// What differs.
        reason: String,
    },
    /// The target of a copy already holds rows.
    #[error(
        "the database {location} already holds data ({tables}); `tripkey db copy` only \
         fills an empty database, so that nothing in it is overwritten or mixed with the copy: \
         copy to a new database (for PostgreSQL, one made with CREATE DATABASE), or empty this \
         one first"
    )]
    TargetNotEmpty {
        /// The target, as messages show it.
        location: String,
        /// The tables holding rows, with their counts: `canaries: 3, alerts: 12`.
        tables: String,
    },
    /// After a table was copied, the target did not hold as many rows as the source.
    #[error(
        "the copy of table {table} left {target_rows} rows in {location} where the source has \
         {source_rows}; nothing was committed"
    )]
    CopyMismatch {
        /// The table.
        table: String,
        /// The target, as messages show it.
        location: String,
        /// Its rows in the source.
        source_rows: u64,
        /// Its rows in the target.
        target_rows: u64,
    },
    /// No canary has that id.
    #[error("no canary with id {0} (`tripkey canary list` shows them)")]
    NotFound(CanaryId),
    /// An API token of that name exists already.
    #[error(
        "an API token named {0:?} exists already: pick another name, or revoke that one first"
    )]
    TokenExists(String),
    /// The id or name is taken by another canary.
    #[error("a canary with id {id} or name {name:?} already exists; generate a new id and name")]
    AlreadyExists {
        /// The id that was inserted.
        id: CanaryId,
        /// The name that was inserted.
        name: String,
    },
    /// The canary never held that access key.
    #[error(
        "canary {id} has no access key {access_key_id} (`tripkey canary show {id}` lists its keys)"
    )]
    KeyNotFound {
        /// The canary.
        id: CanaryId,
        /// The access key ID asked for.
        access_key_id: String,
    },
    /// The canary was revoked, so its credentials cannot change any more.
    #[error("canary {0} is revoked; issue a new canary instead")]
    Revoked(CanaryId),
    /// A secret is to be kept or read back but no secret key is configured.
    #[error(
        "no secret key is configured to encrypt or decrypt the kept secret of canary {0}; \
         set one (generate it with `openssl rand -base64 32`), or do not ask to keep secrets"
    )]
    NoSecretKey(CanaryId),
    /// The kept secret does not decrypt with the configured key.
    #[error(
        "cannot decrypt the kept secret of canary {0}: the configured secret key is not the one \
         it was stored with (or the stored bytes were altered); configure the original key, \
         or rotate the canary to get a new secret"
    )]
    Decryption(CanaryId),
    /// A stored value could not be read back.
    #[error("canary {id} has an unreadable {column} in the database: {reason}")]
    Corrupt {
        /// The canary whose row it is.
        id: String,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn corrupt(id: &str, column: &'static str, reason: impl ToString) -> StoreError {
        StoreError::Corrupt {
            id: id.to_owned(),
            column,
            reason: reason.to_string(),
        }
    }
}
