//! The canary registry's persistence: a database holding every canary, the access keys it has
//! held and its life-cycle history, with secrets kept only on request and then encrypted.
//!
//! The database is an embedded SQLite file by default, or PostgreSQL when [`Store::connect`] is
//! given a `postgres://` URL. Both run the same queries and give the same results; each backend
//! has its own migrations, with the same versions (see [`Backend`]).
//!
//! Records are never deleted: a revoked canary keeps its row and history, so an alert on one of
//! its old keys can still be explained. Times are [`EventTime`] milliseconds, the unit the
//! detectors work in; life-cycle operations take the time to record, so replays and tests are
//! deterministic ([`now`] gives the wall clock).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use store::{CanaryId, CanaryKind, Issuer, NewCanary, Store};
//!
//! let store = Store::open_in_memory().await?;
//! let id = CanaryId::generate();
//! let canary = store
//!     .insert(
//!         &NewCanary {
//!             id: id.clone(),
//!             kind: CanaryKind::IamUser,
//!             issuer: Issuer::Offline,
//!             account_id: "123456789012".into(),
//!             access_key_id: "AKIAQAAAAAAAAEXAMPLE".into(),
//!             principal_arn: format!("arn:aws:iam::123456789012:user/svc/build-{id}"),
//!             name: format!("build-{id}"),
//!             path: "/svc/".into(),
//!             labels: Default::default(),
//!             memo: None,
//!             created_at: store::now(),
//!             expires_at: None,
//!             issued_by: None,
//!         },
//!         None,
//!     )
//!     .await?;
//! assert_eq!(store.get_by_access_key_id("AKIAQAAAAAAAAEXAMPLE").await?, Some(canary));
//! # Ok::<(), store::StoreError>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

#[macro_use]
mod backend;
mod audit;
mod copy;
mod detector;
mod error;
mod failures;
mod location;
mod model;
mod objects;
mod overview;
#[macro_use]
mod pipeline;
mod placements;
mod secret;
mod suppressions;
mod tokens;
mod workers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::QueryBuilder;
pub use trail::EventTime;

use backend::{Pool, Tx};

pub use audit::{AuditEntry, AuditOutcome, NewAuditEntry};
pub use backend::Backend;
pub use copy::{CopyProgress, CopyReport, TableCount};
pub use detector::{DetectionBatch, DetectorKey, DetectorRows, DetectorWrites, InputActivity};
pub use error::StoreError;
pub use failures::SourceFailure;
pub use location::{Location, Migration, SchemaState, SchemaStatus};
pub use model::{
    now, CanaryCursor, CanaryEvent, CanaryEventKind, CanaryFilter, CanaryId, CanaryKey, CanaryKind,
    CanaryRecord, CanaryStatus, InvalidCanaryId, Issuer, Labels, NewCanary, UnknownVariant,
};
pub use objects::QueuedObject;
pub use overview::CanaryCount;
pub use pipeline::{
    AlertCursor, AlertFilter, AlertRow, AlertStateChange, AlertTiming, BatchCommit, Delivery,
    SinkHealth, StoredAlert,
};
pub use placements::{NewPlacement, Placement};
pub use secret::{Secret, SecretKey, SecretKeyError};
pub use suppressions::{NewSuppression, SuppressionRecord};
pub use tokens::{ApiToken, NewApiToken};
pub use workers::{LeaseKind, WorkerBeat, WorkerRecord};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The table in which sqlx records the migrations applied to a database.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The migrations this binary carries for `backend`.
fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    }
}

/// How long a write waits for another connection or process to release an SQLite database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to a PostgreSQL database: `serve`'s pipeline, API and pollers share them.
const POSTGRES_CONNECTIONS: u32 = 8;

/// The per-user default database: `$XDG_DATA_HOME/tripkey/tripkey.db`, else
/// `~/.local/share/tripkey/tripkey.db` (the platform's data directory elsewhere). `None` when
/// the user has no home directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "tripkey").map(|dirs| dirs.data_dir().join("tripkey.db"))
}

/// The canary registry, backed by SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// The SQLite file, or the PostgreSQL URL with its password redacted: what messages show.
    path: PathBuf,
    secret_key: Option<SecretKey>,
}

/// The columns of [`CanaryRow`], selected from `canaries c`, followed by `rest`.
macro_rules! select_canary {
    ($rest:literal) => {
        concat!(
            "SELECT c.id, c.kind, c.issuer, c.account_id, c.access_key_id, c.principal_arn, \
             c.name, c.path, c.labels, c.memo, c.created_at, c.expires_at, c.rotated_at, \
             c.revoked_at, c.status, c.last_alert_at, c.sealed_secret IS NOT NULL AS secret_kept, \
             c.issued_by FROM canaries c ",
            $rest
        )
    };
}

#[derive(sqlx::FromRow)]
struct CanaryRow {
    id: String,
    kind: String,
    issuer: String,
    account_id: String,
    access_key_id: String,
    principal_arn: String,
    name: String,
    path: String,
    labels: String,
    memo: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
    status: String,
    last_alert_at: Option<i64>,
    secret_kept: bool,
    issued_by: Option<String>,
}

impl TryFrom<CanaryRow> for CanaryRecord {
    type Error = StoreError;

    fn try_from(row: CanaryRow) -> Result<CanaryRecord, StoreError> {
        let bad =
            |column, reason: &dyn std::fmt::Display| StoreError::corrupt(&row.id, column, reason);
        Ok(CanaryRecord {
            id: row.id.parse().map_err(|e| bad("id", &e))?,
            kind: row.kind.parse().map_err(|e| bad("kind", &e))?,
            issuer: row.issuer.parse().map_err(|e| bad("issuer", &e))?,
            status: row.status.parse().map_err(|e| bad("status", &e))?,
            labels: serde_json::from_str(&row.labels).map_err(|e| bad("labels", &e))?,
            account_id: row.account_id,
            access_key_id: row.access_key_id,
            principal_arn: row.principal_arn,
            name: row.name,
            path: row.path,
            memo: row.memo,
            created_at: EventTime(row.created_at),
            expires_at: row.expires_at.map(EventTime),
            rotated_at: row.rotated_at.map(EventTime),
            revoked_at: row.revoked_at.map(EventTime),
            last_alert_at: row.last_alert_at.map(EventTime),
            secret_kept: row.secret_kept,
            issued_by: row.issued_by,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    canary_id: String,
    at: i64,
    kind: String,
    detail: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    canary_id: String,
    access_key_id: String,
    issued_at: i64,
    retired_at: Option<i64>,
    deleted_at: Option<i64>,
}

impl TryFrom<KeyRow> for CanaryKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<CanaryKey, StoreError> {
        Ok(CanaryKey {
            canary_id: row
                .canary_id
                .parse()
                .map_err(|e| StoreError::corrupt(&row.canary_id, "canary_id", e))?,
            access_key_id: row.access_key_id,
            issued_at: EventTime(row.issued_at),
            retired_at: row.retired_at.map(EventTime),
            deleted_at: row.deleted_at.map(EventTime),
        })
    }
}

/// What replacing a canary's access key is for.
enum KeyChange {
    Rotate,
    Renew { expires_at: Option<EventTime> },
}

impl Store {
    /// Opens the database `url` names and applies any migrations this binary carries that it
    /// lacks: `postgres://…` or `postgresql://…` is a PostgreSQL database (which must exist;
    /// tripkey creates its tables in the connection's current schema), `sqlite::memory:` a
    /// fresh in-memory one (as [`Store::open_in_memory`]), and `sqlite:PATH`, `sqlite://PATH`
    /// or a plain path an SQLite file (as [`Store::open`]). It is [`Location::parse`] then
    /// [`Location::open`]; a text naming no database (empty, or another scheme such as
    /// `mysql://`) is [`StoreError::BadLocation`].
    ///
    /// A PostgreSQL URL takes libpq's parameters, e.g. `?sslmode=verify-full&sslrootcert=FILE`
    /// for TLS with the server's certificate checked against the CA certificates in `FILE`
    /// (RDS publishes its bundle). Messages and [`Store::location`] show the URL with its
    /// password replaced by `***`.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = store::Store::connect("postgres://tripkey:secret@db.internal/tripkey").await?;
    /// assert_eq!(store.backend(), store::Backend::Postgres);
    /// assert_eq!(store.location(), "postgres://tripkey:***@db.internal/tripkey");
    /// # Ok::<(), store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Location::parse(url)?.open().await
    }

    /// Opens the SQLite database at `path`, creating it and its parent directories (mode
    /// 0700) when missing, and applies any migrations this binary carries that it lacks.
    ///
    /// The database runs in WAL mode (readers do not block the writer, so `serve` and a CLI
    /// command can share it) with foreign keys enforced and a busy timeout, so a write waits
    /// briefly for another process instead of failing at once.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_unmigrated(path.as_ref())
            .await?
            .migrated()
            .await
    }

    /// [`Store::open`] without the migrations: the file is created when missing.
    async fn open_unmigrated(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        create_private(&path)?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| database_error(Backend::Sqlite, &path, e))?;
        Ok(Store::unmigrated(Pool::Sqlite(pool), path))
    }

    /// Opens the SQLite database at `path` only if it exists, for commands that read: looking
    /// at an inventory must not leave an empty database behind, which would later make a scan
    /// of the wrong path look clean.
    pub async fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        Store::open(path).await
    }

    /// A fresh SQLite database in memory, for tests and demos; it vanishes when the store is
    /// dropped.
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        // Each connection to `:memory:` is a database of its own, so the pool keeps exactly one
        // connection open for the store's whole life.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::new().foreign_keys(true))
            .await
            .map_err(|e| database_error(Backend::Sqlite, &path, e))?;
        Store::start(Pool::Sqlite(pool), path).await
    }

    /// Connects to the PostgreSQL database `url` names, without migrating it.
    async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        let path = PathBuf::from(backend::redact(url));
        let failed = |e| database_error(Backend::Postgres, &path, e);
        let options: PgConnectOptions = url.parse().map_err(failed)?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(failed)?;
        Ok(Store::unmigrated(Pool::Postgres(pool), path))
    }

    async fn start(pool: Pool, path: PathBuf) -> Result<Store, StoreError> {
        Store::unmigrated(pool, path).migrated().await
    }

    fn unmigrated(pool: Pool, path: PathBuf) -> Store {
        Store {
            pool,
            path,
            secret_key: None,
        }
    }

    /// This store, with every migration it lacks applied.
    async fn migrated(self) -> Result<Store, StoreError> {
        self.migrate().await?;
        Ok(self)
    }

    /// The versions of the migrations applied to the database, oldest first; `None` when it
    /// has no record of tripkey's migrations at all (a new database, or another program's).
    async fn applied_migrations(&self) -> Result<Option<Vec<Migration>>, StoreError> {
        if !self.tables().await?.iter().any(|t| t == MIGRATIONS_TABLE) {
            return Ok(None);
        }
        let applied: Vec<(i64, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT version, description FROM _sqlx_migrations WHERE success \
                 ORDER BY version",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(Some(
            applied
                .into_iter()
                .map(|(version, description)| Migration {
                    version,
                    description,
                })
                .collect(),
        ))
    }

    /// The tables of the database, or of the current schema on PostgreSQL.
    async fn tables(&self) -> Result<Vec<String>, StoreError> {
        on_pool!(self, |pool| {
            let sql = match self.backend() {
                Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
                Backend::Postgres => {
                    "SELECT CAST(tablename AS TEXT) FROM pg_catalog.pg_tables \
                     WHERE schemaname = current_schema()"
                }
            };
            sqlx::query_scalar(sql).fetch_all(pool).await
        })
        .map_err(|e| self.db(e))
    }

    /// Applies the migrations this binary carries that the database lacks, and gives them
    /// (none when it was up to date).
    async fn migrate(&self) -> Result<Vec<Migration>, StoreError> {
        let tables = self.tables().await?;
        let applied = self.applied_migrations().await?;
        // Migrating another program's database would write tripkey's tables into it.
        if applied.is_none() && !tables.is_empty() {
            return Err(StoreError::ForeignDatabase {
                path: self.path.clone(),
            });
        }
        let applied: Vec<i64> = applied.into_iter().flatten().map(|m| m.version).collect();
        let migrator = migrator(self.backend());
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(&found) = applied.iter().max().filter(|&&found| found > known) {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                known,
            });
        }
        on_pool!(self, |pool| migrator.run(pool).await).map_err(|e| match e {
            MigrateError::Execute(e) => self.db(e),
            source => StoreError::Migration {
                path: self.path.clone(),
                source,
            },
        })?;
        Ok(location::known_migrations(self.backend())
            .into_iter()
            .filter(|m| !applied.contains(&m.version))
            .collect())
    }

    /// This store, encrypting kept secrets with `key` (from configuration).
    pub fn with_secret_key(mut self, key: SecretKey) -> Store {
        self.secret_key = Some(key);
        self
    }

    /// Which database the store lives in.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Where the database lives, for messages: the SQLite file (`:memory:` for an in-memory
    /// database), or the PostgreSQL URL with its password replaced by `***`.
    pub fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// Where an SQLite database lives (`:memory:` for an in-memory one). For PostgreSQL it is
    /// [`Store::location`], the URL without its password, as a path: no file to open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection; for SQLite, checkpointing the write-ahead log into the
    /// database file.
    pub async fn close(self) {
        on_pool!(self, |pool| pool.close().await);
    }

    fn db(&self, e: sqlx::Error) -> StoreError {
        database_error(self.backend(), &self.path, e)
    }

    /// A write transaction.
    ///
    /// On SQLite it takes the write lock at its start: SQLite cannot upgrade a reading
    /// transaction to a writing one while another connection writes (it fails at once, busy
    /// timeout or not), and most of ours read before they write.
    ///
    /// On PostgreSQL it is an ordinary transaction (read committed), and writers run side by
    /// side. A row read to decide a write is read with [`Backend::locking`], so a second
    /// writer of that row waits for the first to commit; other writes are single statements
    /// whose conditions PostgreSQL checks again on the row as committed (`UPDATE … WHERE`,
    /// `INSERT … ON CONFLICT`), and decide by how many rows they changed.
    async fn write(&self) -> Result<Tx, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => pool.begin_with("BEGIN IMMEDIATE").await.map(Tx::Sqlite),
            Pool::Postgres(pool) => pool.begin().await.map(Tx::Postgres),
        }
        .map_err(|e| self.db(e))
    }

    /// Records a newly issued canary and its `issued` event, in one transaction.
    ///
    /// `keep_secret` keeps the secret access key, encrypted with the configured secret key,
    /// for re-planting; without one configured that fails with [`StoreError::NoSecretKey`]
    /// and nothing is recorded.
    pub async fn insert(
        &self,
        canary: &NewCanary,
        keep_secret: Option<&Secret>,
    ) -> Result<CanaryRecord, StoreError> {
        let id = &canary.id;
        let sealed = self.seal(id, keep_secret)?;
        let labels = serde_json::to_string(&canary.labels)
            .expect("a map of strings always serializes to JSON");
        let mut tx = self.write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO canaries (id, kind, issuer, account_id, access_key_id, \
                 principal_arn, name, path, labels, memo, created_at, expires_at, status, \
                 sealed_secret, issued_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(id.as_str())
            .bind(canary.kind.as_str())
            .bind(canary.issuer.as_str())
            .bind(&canary.account_id)
            .bind(&canary.access_key_id)
            .bind(&canary.principal_arn)
            .bind(&canary.name)
            .bind(&canary.path)
            .bind(&labels)
            .bind(&canary.memo)
            .bind(canary.created_at.0)
            .bind(canary.expires_at.map(|t| t.0))
            .bind(CanaryStatus::Active.as_str())
            .bind(&sealed)
            .bind(&canary.issued_by)
            .execute(conn)
            .await
            .map(drop)
        })
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists {
                id: id.clone(),
                name: canary.name.clone(),
            },
            _ => self.db(e),
        })?;
        add_key(&mut tx, id, &canary.access_key_id, canary.created_at)
            .await
            .map_err(|e| self.db(e))?;
        let detail = json!({
            "access_key_id": canary.access_key_id,
            "expires_at": canary.expires_at,
        });
        add_event(
            &mut tx,
            id,
            canary.created_at,
            CanaryEventKind::Issued,
            &detail,
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        self.require(id).await
    }

    fn seal(&self, id: &CanaryId, secret: Option<&Secret>) -> Result<Option<Vec<u8>>, StoreError> {
        secret
            .map(|secret| {
                let key = self
                    .secret_key
                    .as_ref()
                    .ok_or_else(|| StoreError::NoSecretKey(id.clone()))?;
                Ok(key.seal(id, secret))
            })
            .transpose()
    }

    /// The canary with this id.
    pub async fn get(&self, id: &CanaryId) -> Result<Option<CanaryRecord>, StoreError> {
        let row: Option<CanaryRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_canary!("WHERE c.id = $1"))
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        row.map(CanaryRecord::try_from).transpose()
    }

    async fn require(&self, id: &CanaryId) -> Result<CanaryRecord, StoreError> {
        self.get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.clone()))
    }

    /// The canary holding, or having held, this access key ID: a rotated key stays usable
    /// through its grace period and a renewed session key until it expires, so a use of either
    /// still points at its canary. Short-term key IDs can recur over time; the canary that got
    /// it last wins.
    pub async fn get_by_access_key_id(
        &self,
        access_key_id: &str,
    ) -> Result<Option<CanaryRecord>, StoreError> {
        let row: Option<CanaryRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_canary!(
                "JOIN canary_keys k ON k.canary_id = c.id WHERE k.access_key_id = $1 \
                 ORDER BY k.issued_at DESC, c.created_at DESC LIMIT 1"
            ))
            .bind(access_key_id)
            .fetch_optional(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        row.map(CanaryRecord::try_from).transpose()
    }

    /// The canary with this IAM user, federated user or role session name.
    pub async fn get_by_name(&self, name: &str) -> Result<Option<CanaryRecord>, StoreError> {
        let row: Option<CanaryRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_canary!("WHERE c.name = $1"))
                .bind(name)
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        row.map(CanaryRecord::try_from).transpose()
    }

    /// The canaries matching `filter`, oldest first.
    pub async fn list(&self, filter: &CanaryFilter) -> Result<Vec<CanaryRecord>, StoreError> {
        self.select_canaries(filter, None, None).await
    }

    /// Up to `limit` canaries matching `filter`, oldest first, after `cursor`. Pages are read
    /// by position in an index, so a deep page costs what the first one does.
    pub async fn list_page(
        &self,
        filter: &CanaryFilter,
        cursor: Option<&CanaryCursor>,
        limit: u32,
    ) -> Result<Vec<CanaryRecord>, StoreError> {
        self.select_canaries(filter, cursor, Some(limit)).await
    }

    async fn select_canaries(
        &self,
        filter: &CanaryFilter,
        cursor: Option<&CanaryCursor>,
        limit: Option<u32>,
    ) -> Result<Vec<CanaryRecord>, StoreError> {
        let dialect = self.backend();
        let rows: Vec<CanaryRow> = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(select_canary!("WHERE 1 = 1"));
            if let Some(status) = filter.status {
                query.push(" AND c.status = ").push_bind(status.as_str());
            }
            if let Some(kind) = filter.kind {
                query.push(" AND c.kind = ").push_bind(kind.as_str());
            }
            if let Some(account_id) = &filter.account_id {
                query.push(" AND c.account_id = ").push_bind(account_id);
            }
            if let Some(issuer) = filter.issuer {
                query.push(" AND c.issuer = ").push_bind(issuer.as_str());
            }
            if let Some(token) = &filter.issued_by {
                query.push(" AND c.issued_by = ").push_bind(token);
            }
            if let Some(before) = filter.expiring_before {
                query.push(" AND c.expires_at < ").push_bind(before.0);
            }
            if let Some(text) = &filter.text {
                // A position, not LIKE: the text is matched as typed, `%` and `_` included.
                let position = dialect.position_function();
                query
                    .push(format_args!(" AND ({position}(c.name, "))
                    .push_bind(text)
                    .push(format_args!(
                        ") > 0 OR EXISTS (SELECT 1 FROM canary_keys k WHERE k.canary_id = c.id \
                         AND {position}(k.access_key_id, "
                    ))
                    .push_bind(text)
                    .push(") > 0))");
            }
            for (key, value) in &filter.labels {
                query
                    .push(format_args!(
                        " AND EXISTS (SELECT 1 FROM {} l WHERE l.key = ",
                        dialect.label_pairs()
                    ))
                    .push_bind(key)
                    .push(" AND l.value = ")
                    .push_bind(value)
                    .push(")");
            }
            if let Some(cursor) = cursor {
                query
                    .push(" AND (c.created_at > ")
                    .push_bind(cursor.created_at.0)
                    .push(" OR (c.created_at = ")
                    .push_bind(cursor.created_at.0)
                    .push(" AND c.id > ")
                    .push_bind(cursor.id.as_str())
                    .push("))");
            }
            query.push(" ORDER BY c.created_at, c.id");
            if let Some(limit) = limit {
                query.push(" LIMIT ").push_bind(i64::from(limit));
            }
            query.build_query_as().fetch_all(pool).await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(CanaryRecord::try_from).collect()
    }

    /// How many canaries of `account_id` still hold live credentials (status active or
    /// triggered: a triggered canary keeps watching, so its IAM user still exists), optionally
    /// only of one kind. The issuer compares this with the account's limit of IAM users.
    pub async fn count_active(
        &self,
        account_id: &str,
        kind: Option<CanaryKind>,
    ) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM canaries WHERE account_id = $1 AND status IN ($2, $3) \
                 AND ($4 IS NULL OR kind = $4)",
            )
            .bind(account_id)
            .bind(CanaryStatus::Active.as_str())
            .bind(CanaryStatus::Triggered.as_str())
            .bind(kind.map(CanaryKind::as_str))
            .fetch_one(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// A canary's history, oldest first (events recorded with the same time keep the order
    /// they were recorded in).
    pub async fn history(&self, id: &CanaryId) -> Result<Vec<CanaryEvent>, StoreError> {
        let rows: Vec<EventRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT canary_id, at, kind, detail FROM canary_events WHERE canary_id = $1 \
                 ORDER BY at, seq",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        // Every canary has at least its `issued` event.
        if rows.is_empty() {
            return Err(StoreError::NotFound(id.clone()));
        }
        rows.into_iter()
            .map(|row| {
                Ok(CanaryEvent {
                    canary_id: id.clone(),
                    at: EventTime(row.at),
                    kind: row
                        .kind
                        .parse()
                        .map_err(|e| StoreError::corrupt(&row.canary_id, "event kind", e))?,
                    detail: serde_json::from_str(&row.detail)
                        .map_err(|e| StoreError::corrupt(&row.canary_id, "event detail", e))?,
                })
            })
            .collect()
    }

    /// Every access key a canary has held, oldest first.
    pub async fn keys(&self, id: &CanaryId) -> Result<Vec<CanaryKey>, StoreError> {
        let rows: Vec<KeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT canary_id, access_key_id, issued_at, retired_at, deleted_at \
                 FROM canary_keys WHERE canary_id = $1 ORDER BY issued_at, rowid",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(CanaryKey::try_from).collect()
    }

    /// Every access key every canary has held, grouped by canary and oldest first: what a
    /// detector needs to recognise a use of any of them.
    pub async fn all_keys(&self) -> Result<Vec<CanaryKey>, StoreError> {
        let rows: Vec<KeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT canary_id, access_key_id, issued_at, retired_at, deleted_at \
                 FROM canary_keys ORDER BY canary_id, issued_at, rowid",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(CanaryKey::try_from).collect()
    }

    /// Access keys of IAM-user canaries retired at or before `retired_by` and not yet deleted:
    /// the old keys whose rotation grace period is over.
    pub async fn keys_awaiting_deletion(
        &self,
        retired_by: EventTime,
    ) -> Result<Vec<CanaryKey>, StoreError> {
        let rows: Vec<KeyRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT k.canary_id, k.access_key_id, k.issued_at, k.retired_at, k.deleted_at \
                 FROM canary_keys k JOIN canaries c ON c.id = k.canary_id \
                 WHERE c.kind = $1 AND k.retired_at <= $2 AND k.deleted_at IS NULL \
                 ORDER BY k.retired_at, k.rowid",
            )
            .bind(CanaryKind::IamUser.as_str())
            .bind(retired_by.0)
            .fetch_all(pool)
            .await
        })
        .map_err(|e| self.db(e))?;
        rows.into_iter().map(CanaryKey::try_from).collect()
    }

    /// Records that a canary's retired access key was deleted in AWS, with a `key-deleted`
    /// event. Recording it again changes nothing.
    pub async fn mark_key_deleted(
        &self,
        id: &CanaryId,
        access_key_id: &str,
        at: EventTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        // Only the first deletion changes the row (on PostgreSQL a concurrent one waits for it,
        // then finds the key deleted): it alone records the event.
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE canary_keys SET deleted_at = $1, retired_at = COALESCE(retired_at, $1) \
                 WHERE canary_id = $2 AND access_key_id = $3 AND deleted_at IS NULL",
            )
            .bind(at.0)
            .bind(id.as_str())
            .bind(access_key_id)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if changed == 0 {
            let known: Option<i64> = on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "SELECT issued_at FROM canary_keys WHERE canary_id = $1 AND access_key_id = $2",
                )
                .bind(id.as_str())
                .bind(access_key_id)
                .fetch_optional(conn)
                .await
            })
            .map_err(|e| self.db(e))?;
            return match known {
                Some(_) => Ok(()),
                None => Err(StoreError::KeyNotFound {
                    id: id.clone(),
                    access_key_id: access_key_id.to_owned(),
                }),
            };
        }
        let detail = json!({ "access_key_id": access_key_id });
        add_event(&mut tx, id, at, CanaryEventKind::KeyDeleted, &detail)
            .await
            .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Records an IAM-user canary's new access key: the old key is retired (it is deleted after
    /// the grace period, see [`Store::keys_awaiting_deletion`]) and a `rotated` event names
    /// both. A kept secret is replaced by `keep_secret`, or dropped, since it belongs to the
    /// old key.
    pub async fn rotate(
        &self,
        id: &CanaryId,
        new_access_key_id: &str,
        keep_secret: Option<&Secret>,
        at: EventTime,
    ) -> Result<CanaryRecord, StoreError> {
        self.replace_key(id, new_access_key_id, keep_secret, at, KeyChange::Rotate)
            .await
    }

    /// Records a short-term canary's fresh credentials and their expiry, with a `renewed`
    /// event. An expired canary becomes active again; a triggered one stays triggered. A kept
    /// secret is replaced by `keep_secret`, or dropped.
    pub async fn renew(
        &self,
        id: &CanaryId,
        new_access_key_id: &str,
        expires_at: Option<EventTime>,
        keep_secret: Option<&Secret>,
        at: EventTime,
    ) -> Result<CanaryRecord, StoreError> {
        let change = KeyChange::Renew { expires_at };
        self.replace_key(id, new_access_key_id, keep_secret, at, change)
            .await
    }

    async fn replace_key(
        &self,
        id: &CanaryId,
        new_access_key_id: &str,
        keep_secret: Option<&Secret>,
        at: EventTime,
        change: KeyChange,
    ) -> Result<CanaryRecord, StoreError> {
        let sealed = self.seal(id, keep_secret)?;
        let mut tx = self.write().await?;
        // Locked: a concurrent replacement must see the key this one puts in, or it would
        // leave one of the two new keys unretired.
        let current = tx.backend().locking(locking!(
            "SELECT status, access_key_id FROM canaries WHERE id = $1"
        ));
        let current: Option<(String, String)> = on_tx!(&mut tx, |conn| {
            sqlx::query_as(current)
                .bind(id.as_str())
                .fetch_optional(conn)
                .await
        })
        .map_err(|e| self.db(e))?;
        let (status, old_access_key_id) =
            current.ok_or_else(|| StoreError::NotFound(id.clone()))?;
        if status == CanaryStatus::Revoked.as_str() {
            return Err(StoreError::Revoked(id.clone()));
        }
        let (kind, detail) = match change {
            KeyChange::Rotate => {
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE canaries SET access_key_id = $1, rotated_at = $2, \
                         sealed_secret = $3 WHERE id = $4",
                    )
                    .bind(new_access_key_id)
                    .bind(at.0)
                    .bind(&sealed)
                    .bind(id.as_str())
                    .execute(conn)
                    .await
                    .map(drop)
                })
                .map_err(|e| self.db(e))?;
                let detail = json!({
                    "old_access_key_id": old_access_key_id,
                    "new_access_key_id": new_access_key_id,
                });
                (CanaryEventKind::Rotated, detail)
            }
            KeyChange::Renew { expires_at } => {
                on_tx!(&mut tx, |conn| {
                    sqlx::query(
                        "UPDATE canaries SET access_key_id = $1, expires_at = $2, \
                         sealed_secret = $3, status = CASE status WHEN $4 THEN $5 ELSE status END \
                         WHERE id = $6",
                    )
                    .bind(new_access_key_id)
                    .bind(expires_at.map(|t| t.0))
                    .bind(&sealed)
                    .bind(CanaryStatus::Expired.as_str())
                    .bind(CanaryStatus::Active.as_str())
                    .bind(id.as_str())
                    .execute(conn)
                    .await
                    .map(drop)
                })
                .map_err(|e| self.db(e))?;
                let detail = json!({
                    "old_access_key_id": old_access_key_id,
                    "new_access_key_id": new_access_key_id,
                    "expires_at": expires_at,
                });
                (CanaryEventKind::Renewed, detail)
            }
        };
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE canary_keys SET retired_at = $1 \
                 WHERE canary_id = $2 AND access_key_id = $3 AND retired_at IS NULL",
            )
            .bind(at.0)
            .bind(id.as_str())
            .bind(&old_access_key_id)
            .execute(conn)
            .await
            .map(drop)
        })
        .map_err(|e| self.db(e))?;
        add_key(&mut tx, id, new_access_key_id, at)
            .await
            .map_err(|e| self.db(e))?;
        add_event(&mut tx, id, at, kind, &detail)
            .await
            .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        self.require(id).await
    }

    /// Records a use of the canary with a `triggered` event carrying `detail` (e.g. the
    /// CloudTrail event ID). An active canary becomes triggered and stays watched; an expired
    /// or revoked one keeps its status, the use is still recorded.
    pub async fn mark_triggered(
        &self,
        id: &CanaryId,
        at: EventTime,
        detail: serde_json::Value,
    ) -> Result<CanaryRecord, StoreError> {
        self.transition(
            id,
            at,
            CanaryEventKind::Triggered,
            &detail,
            "UPDATE canaries SET status = 'triggered' WHERE id = $1 AND status = 'active'",
        )
        .await
    }

    /// Records that a short-term canary's credentials ran out without renewal, with an
    /// `expired` event. Revoked canaries stay revoked.
    pub async fn mark_expired(
        &self,
        id: &CanaryId,
        at: EventTime,
    ) -> Result<CanaryRecord, StoreError> {
        self.transition(
            id,
            at,
            CanaryEventKind::Expired,
            &serde_json::Value::Null,
            "UPDATE canaries SET status = 'expired' WHERE id = $1 AND status <> 'revoked'",
        )
        .await
    }

    /// Records that the canary's credentials were deleted for good, with a `revoked` event
    /// carrying `detail` (e.g. the reason). Its keys count as deleted and a kept secret is
    /// dropped; the record and history stay. Revoking a revoked canary changes nothing.
    pub async fn revoke(
        &self,
        id: &CanaryId,
        at: EventTime,
        detail: serde_json::Value,
    ) -> Result<CanaryRecord, StoreError> {
        let mut tx = self.write().await?;
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE canaries SET status = 'revoked', revoked_at = $1, sealed_secret = NULL \
                 WHERE id = $2 AND status <> 'revoked'",
            )
            .bind(at.0)
            .bind(id.as_str())
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if changed == 1 {
            on_tx!(&mut tx, |conn| {
                sqlx::query(
                    "UPDATE canary_keys SET retired_at = COALESCE(retired_at, $1), \
                     deleted_at = COALESCE(deleted_at, $1) WHERE canary_id = $2",
                )
                .bind(at.0)
                .bind(id.as_str())
                .execute(conn)
                .await
                .map(drop)
            })
            .map_err(|e| self.db(e))?;
            add_event(&mut tx, id, at, CanaryEventKind::Revoked, &detail)
                .await
                .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        self.require(id).await
    }

    /// Runs `update` (a status change bound to the canary id) and records the event, if the
    /// canary exists.
    async fn transition(
        &self,
        id: &CanaryId,
        at: EventTime,
        kind: CanaryEventKind,
        detail: &serde_json::Value,
        update: &'static str,
    ) -> Result<CanaryRecord, StoreError> {
        let mut tx = self.write().await?;
        let changed = on_tx!(&mut tx, |conn| {
            sqlx::query(update)
                .bind(id.as_str())
                .execute(conn)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        // The update changes nothing when the status stays; the canary must exist all the same.
        if changed == 0 && !canary_exists(&mut tx, id).await.map_err(|e| self.db(e))? {
            return Err(StoreError::NotFound(id.clone()));
        }
        add_event(&mut tx, id, at, kind, detail)
            .await
            .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        self.require(id).await
    }

    /// Records that uses up to `at` have been alerted on. It only moves forward, so a late or
    /// replayed alert cannot make the last-used poller alert again on a use already reported.
    pub async fn set_last_alert_at(&self, id: &CanaryId, at: EventTime) -> Result<(), StoreError> {
        let changed = on_pool!(self, |pool| {
            sqlx::query(concat!(
                "UPDATE canaries SET ",
                later_last_alert_at!("$1"),
                " WHERE id = $2"
            ))
            .bind(at.0)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Err(StoreError::NotFound(id.clone()));
        }
        Ok(())
    }

    /// The kept secret of the canary's current key, decrypted; `None` when none was kept.
    pub async fn secret(&self, id: &CanaryId) -> Result<Option<Secret>, StoreError> {
        let sealed: Option<Option<Vec<u8>>> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT sealed_secret FROM canaries WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })
        .map_err(|e| self.db(e))?;
        let Some(sealed) = sealed.ok_or_else(|| StoreError::NotFound(id.clone()))? else {
            return Ok(None);
        };
        let key = self
            .secret_key
            .as_ref()
            .ok_or_else(|| StoreError::NoSecretKey(id.clone()))?;
        key.open(id, &sealed)
            .map(Some)
            .ok_or_else(|| StoreError::Decryption(id.clone()))
    }
}

async fn canary_exists(tx: &mut Tx, id: &CanaryId) -> Result<bool, sqlx::Error> {
    let found: Option<String> = on_tx!(tx, |conn| {
        sqlx::query_scalar("SELECT id FROM canaries WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(conn)
            .await
    })?;
    Ok(found.is_some())
}

async fn add_key(
    tx: &mut Tx,
    id: &CanaryId,
    access_key_id: &str,
    at: EventTime,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO canary_keys (canary_id, access_key_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(id.as_str())
        .bind(access_key_id)
        .bind(at.0)
        .execute(conn)
        .await
        .map(drop)
    })
}

async fn add_event(
    tx: &mut Tx,
    id: &CanaryId,
    at: EventTime,
    kind: CanaryEventKind,
    detail: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    let detail = detail.to_string();
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO canary_events (canary_id, at, kind, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(at.0)
        .bind(kind.as_str())
        .bind(&detail)
        .execute(conn)
        .await
        .map(drop)
    })
}

/// Tells lock contention and files that are not databases apart from other failures, since
/// those have a remedy the user can apply. `path` is the SQLite file or the redacted URL.
fn database_error(backend: Backend, path: &Path, source: sqlx::Error) -> StoreError {
    let path = path.to_path_buf();
    let code = match (&source, backend) {
        (sqlx::Error::Database(db), Backend::Sqlite) => {
            db.code().and_then(|code| code.parse::<i32>().ok())
        }
        // PostgreSQL's codes are SQLSTATEs, and its writers wait for each other.
        _ => None,
    };
    // Extended result codes carry the primary code in their low byte.
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const CORRUPT: i32 = 11;
    const NOT_A_DB: i32 = 26;
    match code.map(|code| code & 0xff) {
        Some(BUSY | LOCKED) => StoreError::Locked { path },
        Some(CORRUPT | NOT_A_DB) => StoreError::NotADatabase { path },
        _ => StoreError::Database { path, source },
    }
}

/// Creates the database's directory (0700) and file (0600) when missing: the registry maps key
/// IDs to where canaries are planted, which is worth keeping from other local users.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Create { path, source }
    };
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dirs.mode(0o700);
        file.mode(0o600);
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        dirs.create(dir).map_err(failed(dir))?;
    }
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(failed(path)(e)),
    }
}
