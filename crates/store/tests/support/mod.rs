//! Fresh databases of either backend for the store's tests: an SQLite file in a temp
//! directory, or a PostgreSQL database of its own, created on the cluster that
//! `TRIPKEY_TEST_DATABASE_URL` names (scripts/test starts one) so that tests run in parallel.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use store::{Backend, Store};

/// Runs the test `async fn $name(db: &TestDb)` once per backend, as `$name::sqlite` and
/// `$name::postgres`, each on a fresh database.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::TestDb::new(store::Backend::Sqlite).await;
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = $crate::support::TestDb::new(store::Backend::Postgres).await;
                super::$name(&db).await;
                db.finish().await;
            }
        }
    };
}

/// The PostgreSQL cluster's URL, for a role that may create databases.
pub fn postgres_url() -> String {
    std::env::var("TRIPKEY_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("TRIPKEY_TEST_DATABASE_URL is not set: run through scripts/test, which starts PostgreSQL")
    })
}

/// `url` naming the database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).expect("TRIPKEY_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A database no other test uses.
pub struct TestDb {
    backend: Backend,
    /// What [`Store::connect`] opens.
    url: String,
    /// SQLite: the directory holding the file.
    dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the database's name.
    database: Option<String>,
}

impl TestDb {
    /// A new, empty database.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("tripkey.db").display());
                TestDb {
                    backend,
                    url,
                    dir: Some(dir),
                    database: None,
                }
            }
            Backend::Postgres => {
                let name = format!("tripkey_test_{:016x}", rand::random::<u64>());
                admin(&format!("CREATE DATABASE {name}")).await;
                TestDb {
                    backend,
                    url: with_database(&postgres_url(), &name),
                    dir: None,
                    database: Some(name),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL [`Store::connect`] takes.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// SQLite: the database file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.path().join("tripkey.db"))
    }

    /// SQLite: the directory of the database file and its journals.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|dir| dir.path())
    }

    /// A store on the database, migrated.
    pub async fn open(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Runs `sql` (one statement or several) on a connection of its own, as another program
    /// would.
    pub async fn execute(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.sqlite().await;
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// The number a query of one BIGINT (a `COUNT(*)`) gives, on a connection of its own.
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.sqlite().await;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// Applies the backend's migrations up to `version` only, as an older tripkey did.
    pub async fn migrate_up_to(&self, version: i64) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.sqlite().await;
                sqlx::migrate!("./migrations/sqlite")
                    .run_to(version, &mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                sqlx::migrate!("./migrations/postgres")
                    .run_to(version, &mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// How many migrations the backend carries.
    pub fn migrations(&self) -> usize {
        let dir = format!(
            "{}/migrations/{}",
            env!("CARGO_MANIFEST_DIR"),
            self.backend.as_str()
        );
        std::fs::read_dir(dir).unwrap().count()
    }

    /// Removes the database: a PostgreSQL one is dropped, connections and all; an SQLite
    /// one goes with its temp directory.
    pub async fn finish(self) {
        if let Some(name) = &self.database {
            admin(&format!("DROP DATABASE {name} WITH (FORCE)")).await;
        }
    }

    async fn sqlite(&self) -> SqliteConnection {
        let options = SqliteConnectOptions::new()
            .filename(self.sqlite_path().expect("an SQLite database"))
            .create_if_missing(true);
        SqliteConnection::connect_with(&options).await.unwrap()
    }
}

/// Runs `sql` on the cluster's own database.
async fn admin(sql: &str) {
    let mut conn = PgConnection::connect(&postgres_url()).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
