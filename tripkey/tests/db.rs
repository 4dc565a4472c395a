//! `tripkey db migrate`, `db status` and `db copy`, and choosing the database by `--database`,
//! `TRIPKEY_DATABASE` (or `TRIPKEY_DB`) and `[store] url`: on SQLite files and on databases of
//! their own on the PostgreSQL cluster `TRIPKEY_TEST_DATABASE_URL` names (scripts/test starts
//! it), always with a password in the URL that must never be shown.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const ACCOUNT: &str = "111122223333";
const PASSWORD: &str = "hunter2-never-shown";

fn tripkey(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tripkey"));
    command
        .args(args)
        .env_remove("TRIPKEY_DB")
        .env_remove("TRIPKEY_DATABASE")
        .env_remove("TRIPKEY_CONFIG")
        .env_remove("TRIPKEY_COPY_FROM")
        .env_remove("TRIPKEY_COPY_TO")
        .env_remove("TRIPKEY_SERVER")
        .env_remove("TRIPKEY_TOKEN")
        .env("TRIPKEY_URL", "http://127.0.0.1:9");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("tripkey runs")
}

/// Stdout and stderr together, for looking for what must not be there.
fn everything(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", everything(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn versions(migrations: &Value) -> Vec<i64> {
    migrations
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect()
}

fn migration_files() -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/store/migrations/sqlite");
    std::fs::read_dir(dir).unwrap().count()
}

fn create_canary(database: &str) -> Value {
    let output = tripkey(
        &[
            "canary",
            "create",
            "--database",
            database,
            "--offline-account",
            ACCOUNT,
            "--label",
            "host=build-07",
            "--format",
            "json",
        ],
        &[],
    );
    json(&output)["canary"].clone()
}

fn canary_list(database: &str) -> Value {
    json(&tripkey(
        &["canary", "list", "--database", database, "--format", "json"],
        &[],
    ))
}

/// Rows per table in a `db copy --format json` report.
fn counts(report: &Value) -> Vec<(String, u64, u64)> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_owned(),
                t["source_rows"].as_u64().unwrap(),
                t["target_rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn rows_of(report: &Value, table: &str) -> u64 {
    counts(report)
        .into_iter()
        .find(|(name, _, _)| name == table)
        .unwrap_or_else(|| panic!("{table} was not copied: {report}"))
        .2
}

#[test]
fn db_migrate_and_status_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tripkey.db");
    let db = db.to_str().unwrap();

    // Status changes nothing, and says the database is not there.
    let output = tripkey(&["db", "status", "--database", db, "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", everything(&output));
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["state"], "missing");
    assert_eq!(status["backend"], "sqlite");
    assert_eq!(versions(&status["pending"]).len(), migration_files());
    assert!(!Path::new(db).exists(), "status created the database");

    let migrated = json(&tripkey(
        &["db", "migrate", "--database", db, "--format", "json"],
        &[],
    ));
    let applied = versions(&migrated["applied"]);
    assert_eq!(applied.len(), migration_files());
    assert_eq!(applied[0], 1);
    assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    assert_eq!(migrated["location"], db);

    let again = json(&tripkey(
        &["db", "migrate", "--format", "json"],
        &[("TRIPKEY_DATABASE", db)],
    ));
    assert_eq!(again["applied"], Value::Array(Vec::new()));
    let output = tripkey(&["db", "migrate", "--db", db], &[]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("up to date"),
        "{}",
        everything(&output)
    );

    let status = json(&tripkey(
        &["db", "status", "--format", "json"],
        &[("TRIPKEY_DB", db)],
    ));
    assert_eq!(status["state"], "migrated");
    assert_eq!(versions(&status["applied"]), applied);
    assert_eq!(status["pending"], Value::Array(Vec::new()));
    let output = tripkey(
        &["db", "status", "--database", &format!("sqlite:{db}")],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", everything(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&format!("database  {db}")), "{text}");
    assert!(text.contains("pending   none"), "{text}");
}

#[test]
fn db_is_chosen_by_flag_then_environment_then_config() {
    let dir = tempfile::tempdir().unwrap();
    let by_file = dir.path().join("from-file.db");
    let by_env = dir.path().join("from-env.db");
    let config = dir.path().join("tripkey.toml");
    std::fs::write(&config, "[store]\nurl = \"sqlite:from-file.db\"\n").unwrap();
    let config = config.to_str().unwrap();
    let canary = create_canary(by_file.to_str().unwrap());

    let listed = |env: &[(&str, &str)]| {
        let output = tripkey(
            &["canary", "list", "--config", config, "--format", "json"],
            env,
        );
        (output.status.code(), everything(&output))
    };
    let (code, text) = listed(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(canary["id"].as_str().unwrap()), "{text}");
    // The environment beats the file: that database is not there, and a listing creates none.
    let (code, text) = listed(&[("TRIPKEY_DATABASE", by_env.to_str().unwrap())]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("from-env.db"), "{text}");
    assert!(!by_env.exists());
    let (code, text) = listed(&[("TRIPKEY_DB", by_env.to_str().unwrap())]);
    assert_eq!(code, Some(2), "{text}");

    // Both `path` and `url` is an error that says so.
    let both = dir.path().join("both.toml");
    std::fs::write(&both, "[store]\npath = \"a.db\"\nurl = \"b.db\"\n").unwrap();
    let output = tripkey(&["canary", "list", "--config", both.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        everything(&output).contains("both path and url"),
        "{}",
        everything(&output)
    );
}

/// A database of its own on the test cluster, dropped at the end.
struct PostgresDb {
    name: String,
    /// Its URL, with a password the cluster does not ask for (it trusts loopback).
    url: String,
}

fn cluster_url() -> String {
    std::env::var("TRIPKEY_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("TRIPKEY_TEST_DATABASE_URL is not set: run through scripts/test, which starts PostgreSQL")
    })
}

fn on_cluster(sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = PgConnection::connect(&cluster_url()).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

impl PostgresDb {
    fn new() -> PostgresDb {
        let name = format!("tripkey_cli_{:016x}", rand::random::<u64>());
        on_cluster(&format!("CREATE DATABASE {name}"));
        // postgres://USER@HOST:PORT/postgres → postgres://USER:PASSWORD@HOST:PORT/NAME
        let base = cluster_url();
        let (scheme, rest) = base.split_once("://").unwrap();
        let (user, rest) = rest.split_once('@').unwrap();
        let user = user.split(':').next().unwrap();
        let host = rest.split('/').next().unwrap();
        let url = format!("{scheme}://{user}:{PASSWORD}@{host}/{name}");
        PostgresDb { name, url }
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        on_cluster(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn db_copy_sqlite_to_postgres_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.db");
    let first = first.to_str().unwrap();
    let back = dir.path().join("back.db");
    let back = back.to_str().unwrap();
    let postgres = PostgresDb::new();
    let pg = postgres.url.as_str();

    create_canary(first);
    create_canary(first);
    let token = tripkey(&["token", "create", "ci", "--database", first], &[]);
    assert_eq!(token.status.code(), Some(0), "{}", everything(&token));
    let before = canary_list(first);

    // A read-only command on the new database says to migrate it, and creates nothing.
    let output = tripkey(&["canary", "list", "--database", pg], &[]);
    assert_eq!(output.status.code(), Some(2));
    let text = everything(&output);
    assert!(text.contains("tripkey db migrate"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let output = tripkey(
        &[
            "db", "copy", "--from", first, "--to", pg, "--format", "json",
        ],
        &[],
    );
    assert!(!everything(&output).contains(PASSWORD));
    let report = json(&output);
    assert_eq!(report["from"], first);
    assert!(report["to"].as_str().unwrap().contains(":***@"), "{report}");
    assert_eq!(rows_of(&report, "canaries"), 2);
    assert_eq!(rows_of(&report, "canary_keys"), 2);
    assert_eq!(rows_of(&report, "api_tokens"), 1);
    assert!(counts(&report)
        .iter()
        .all(|(_, source, target)| source == target));
    assert_eq!(canary_list(pg), before);

    // Every output that names the database hides the password.
    for args in [
        vec!["db", "status", "--database", pg],
        vec!["db", "status", "--database", pg, "--format", "json"],
        vec!["db", "migrate", "--database", pg],
        vec!["status", "--database", pg],
        vec!["serve", "--check", "--database", pg],
        vec!["canary", "list", "--database", pg],
        vec!["db", "copy", "--from", first, "--to", pg],
    ] {
        let output = tripkey(&args, &[]);
        let text = everything(&output);
        assert!(!text.contains(PASSWORD), "{args:?}: {text}");
        if args[0] != "canary" {
            assert!(text.contains(":***@"), "{args:?}: {text}");
        }
    }
    let status = tripkey(&["status", "--database", pg], &[]);
    assert_eq!(status.status.code(), Some(0), "{}", everything(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("database  postgres://"));
    // The second copy into it is refused: it holds data now.
    let again = tripkey(&["db", "copy", "--from", first, "--to", pg], &[]);
    assert_eq!(again.status.code(), Some(2));
    let text = everything(&again);
    assert!(text.contains("already holds data"), "{text}");
    assert!(text.contains("canaries: 2"), "{text}");

    // And back, with the target from the environment and the source from --database.
    let output = tripkey(
        &["db", "copy", "--database", pg, "--format", "json"],
        &[("TRIPKEY_COPY_TO", back)],
    );
    let report = json(&output);
    assert_eq!(report["to"], back);
    assert_eq!(rows_of(&report, "canaries"), 2);
    assert_eq!(canary_list(back), before);
    let table = tripkey(
        &["token", "list", "--database", back, "--format", "json"],
        &[],
    );
    assert_eq!(json(&table)["tokens"][0]["name"], "ci");
}
