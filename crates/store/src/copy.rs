//! Copying a whole database into another, empty one, of either backend: `tripkey db copy`.
//!
//! The tables, their columns, keys and references are read from the two databases' schemas,
//! not from a list kept here, so a table a later migration adds is copied too. Both databases
//! must carry the same migrations (opening them with this binary sees to that). The source is
//! read in one snapshot (a read transaction); the target is written in one transaction, in the
//! order its foreign keys need, and row counts are compared table by table before it commits:
//! a copy is whole or nothing.
//!
//! Where the backends differ:
//! - PostgreSQL stores flags as BOOLEAN, SQLite as INTEGER 0 or 1: they are converted.
//! - SQLite's implicit `rowid` is a column of its own on PostgreSQL where queries order by it
//!   (`canary_keys.rowid`): a column named `rowid` on one side only is SQLite's rowid on the
//!   other. Between two SQLite databases every rowid is kept as it is.
//! - PostgreSQL's identity columns are written as they are (`OVERRIDING SYSTEM VALUE`), and
//!   their sequences are moved past the largest value copied, so new rows get new numbers.
//!   SQLite's AUTOINCREMENT counters follow the values written on their own.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, PgConnection, QueryBuilder, Row, SqliteConnection};

use crate::backend::{Backend, Pool, Tx};
use crate::{Store, StoreError, MIGRATIONS_TABLE};

/// The most rows one INSERT writes.
const ROWS_PER_INSERT: usize = 500;

/// The most values one INSERT binds: under SQLite's limit (32,766) and PostgreSQL's (65,535).
const VALUES_PER_INSERT: usize = 30_000;

/// What [`Store::copy_to`] did: each table's rows in the source and, after the copy, in the
/// target, in the order the tables were copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The source, as messages show it (no password).
    pub from: String,
    /// The target, as messages show it (no password).
    pub to: String,
    /// Every table copied, parents before the tables that refer to them.
    pub tables: Vec<TableCount>,
}

/// One table of a [`CopyReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table's name.
    pub table: String,
    /// Its rows in the source's snapshot.
    pub source_rows: u64,
    /// Its rows in the target once copied (the same, or the copy fails).
    pub target_rows: u64,
}

/// What [`Store::copy_to`] tells its caller as it goes, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyProgress<'a> {
    /// A table's copy begins; the source holds `rows` rows of it.
    Table {
        /// The table.
        table: &'a str,
        /// Its rows in the source.
        rows: u64,
    },
    /// This many more rows of the current table were written.
    Rows(u64),
}

impl Store {
    /// Copies every table of this database into `target`, which must hold tripkey's tables
    /// (as opening a store leaves it) and no rows: a copy never mixes with data already there
    /// ([`StoreError::TargetNotEmpty`]). Values arrive as they are: text, numbers, NULLs,
    /// bytes, flags, and the numbering of rows.
    ///
    /// The source is read in one snapshot, so a `serve` writing to it meanwhile does not tear
    /// the copy; the target is written in one transaction that commits only when every
    /// table's row count matches the source's ([`StoreError::CopyMismatch`] otherwise).
    /// `progress` hears of each table and of the rows as they are written.
    pub async fn copy_to(
        &self,
        target: &Store,
        mut progress: impl FnMut(CopyProgress<'_>),
    ) -> Result<CopyReport, StoreError> {
        let (from, to) = (self.location(), target.location());
        let incompatible = |reason: String| StoreError::CopyIncompatible {
            from: from.clone(),
            to: to.clone(),
            reason,
        };
        if self.is_same_database(target) {
            return Err(StoreError::SameDatabase {
                location: from.clone(),
            });
        }
        let versions = |applied: Option<Vec<crate::Migration>>| -> Vec<i64> {
            applied.into_iter().flatten().map(|m| m.version).collect()
        };
        let (source_versions, target_versions) = (
            versions(self.applied_migrations().await?),
            versions(target.applied_migrations().await?),
        );
        if source_versions != target_versions {
            return Err(incompatible(format!(
                "the source has the migrations {source_versions:?} and the target \
                 {target_versions:?}; open both with this tripkey (`tripkey db migrate`) first"
            )));
        }

        let mut source = self.snapshot().await?;
        let mut tx = target.write().await?;
        let source_schema = read_schema(&mut source).await.map_err(|e| self.db(e))?;
        let target_schema = read_schema(&mut tx).await.map_err(|e| target.db(e))?;
        let plans = plan(&source_schema, &target_schema, target.backend()).map_err(incompatible)?;

        let mut held = Vec::new();
        for plan in &plans {
            let rows = count(&mut tx, &plan.table)
                .await
                .map_err(|e| target.db(e))?;
            if rows > 0 {
                held.push(format!("{}: {rows}", plan.table));
            }
        }
        if !held.is_empty() {
            return Err(StoreError::TargetNotEmpty {
                location: to.clone(),
                tables: held.join(", "),
            });
        }

        let mut tables = Vec::with_capacity(plans.len());
        for plan in &plans {
            let source_rows = count(&mut source, &plan.table)
                .await
                .map_err(|e| self.db(e))?;
            progress(CopyProgress::Table {
                table: &plan.table,
                rows: source_rows,
            });
            let copied = copy_table(&mut source, &mut tx, plan, &mut progress)
                .await
                .map_err(|failure| match failure {
                    Failure::Source(e) => self.db(e),
                    Failure::Target(e) => target.db(e),
                    Failure::Value(reason) => incompatible(reason),
                })?;
            let target_rows = count(&mut tx, &plan.table)
                .await
                .map_err(|e| target.db(e))?;
            if copied != source_rows || target_rows != source_rows {
                return Err(StoreError::CopyMismatch {
                    table: plan.table.clone(),
                    location: to.clone(),
                    source_rows,
                    target_rows,
                });
            }
            tables.push(TableCount {
                table: plan.table.clone(),
                source_rows,
                target_rows,
            });
        }
        if let Tx::Postgres(tx) = &mut tx {
            for plan in &plans {
                for column in &plan.numbered {
                    restart_numbering(tx, &plan.table, column)
                        .await
                        .map_err(|e| target.db(e))?;
                }
            }
        }
        tx.commit().await.map_err(|e| target.db(e))?;
        drop(source);
        Ok(CopyReport { from, to, tables })
    }

    /// Whether `other` is this store's database (two in-memory databases never are).
    fn is_same_database(&self, other: &Store) -> bool {
        if self.backend() != other.backend() || self.path() == std::path::Path::new(":memory:") {
            return false;
        }
        let canonical = |path: &std::path::Path| {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        };
        match self.backend() {
            Backend::Sqlite => canonical(self.path()) == canonical(other.path()),
            Backend::Postgres => self.path() == other.path(),
        }
    }

    /// A read transaction that sees one state of the database throughout.
    async fn snapshot(&self) -> Result<Tx, StoreError> {
        match &self.pool {
            // In WAL mode a read transaction keeps the state of its first read.
            Pool::Sqlite(pool) => pool.begin().await.map(Tx::Sqlite),
            Pool::Postgres(pool) => pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .map(Tx::Postgres),
        }
        .map_err(|e| self.db(e))
    }
}

/// How a column's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int16,
    Int32,
    Int64,
    Bool,
    Float,
    Text,
    Bytes,
}

impl Kind {
    fn is_integer(self) -> bool {
        matches!(self, Kind::Int16 | Kind::Int32 | Kind::Int64)
    }

    /// Whether values of `self` can be written to a column of `to` (flags and integers
    /// convert both ways, 0 and 1 being false and true).
    fn converts_to(self, to: Kind) -> bool {
        self == to
            || (self.is_integer() || self == Kind::Bool) && (to.is_integer() || to == Kind::Bool)
    }

    /// The kind of an SQLite column of declared type `declared` (STRICT tables declare
    /// INTEGER, REAL, TEXT or BLOB), by SQLite's affinity rules.
    fn of_sqlite(declared: &str) -> Option<Kind> {
        let declared = declared.to_ascii_uppercase();
        if declared.contains("INT") || declared.contains("BOOL") {
            Some(Kind::Int64)
        } else if ["CHAR", "CLOB", "TEXT"]
            .iter()
            .any(|t| declared.contains(t))
        {
            Some(Kind::Text)
        } else if declared.contains("BLOB") {
            Some(Kind::Bytes)
        } else if ["REAL", "FLOA", "DOUB"]
            .iter()
            .any(|t| declared.contains(t))
        {
            Some(Kind::Float)
        } else {
            None
        }
    }

    /// The kind of a PostgreSQL column of `information_schema.columns.data_type`.
    fn of_postgres(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            "smallint" => Kind::Int16,
            "integer" => Kind::Int32,
            "bigint" => Kind::Int64,
            "boolean" => Kind::Bool,
            "double precision" => Kind::Float,
            "text" | "character varying" | "character" => Kind::Text,
            "bytea" => Kind::Bytes,
            _ => return None,
        })
    }
}

/// One value in flight.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    /// The value for a column of kind `to`, or why it does not fit.
    fn convert(self, to: Kind) -> Result<Value, String> {
        let range = match to {
            Kind::Int16 => i64::from(i16::MIN)..=i64::from(i16::MAX),
            Kind::Int32 => i64::from(i32::MIN)..=i64::from(i32::MAX),
            _ => i64::MIN..=i64::MAX,
        };
        match (self, to) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Int(n), Kind::Bool) => match n {
                0 | 1 => Ok(Value::Bool(n == 1)),
                n => Err(format!("it holds {n}, which is no flag (0 or 1)")),
            },
            (Value::Int(n), to) if to.is_integer() => match range.contains(&n) {
                true => Ok(Value::Int(n)),
                false => Err(format!("it holds {n}, too large for the target's column")),
            },
            (Value::Bool(b), to) if to.is_integer() => Ok(Value::Int(i64::from(b))),
            (value @ Value::Bool(_), Kind::Bool)
            | (value @ Value::Float(_), Kind::Float)
            | (value @ Value::Text(_), Kind::Text)
            | (value @ Value::Bytes(_), Kind::Bytes) => Ok(value),
            (value, to) => Err(format!("it holds {value:?}, which a {to:?} column cannot")),
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    fn boolean(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn float(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    fn text(self) -> Option<String> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    fn bytes(self) -> Option<Vec<u8>> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// Reading a column of a row of either backend as a [`Value`].
trait ReadValue {
    fn value(&self, index: usize, kind: Kind) -> Result<Value, sqlx::Error>;
}

impl ReadValue for SqliteRow {
    fn value(&self, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Int16 | Kind::Int32 | Kind::Int64 | Kind::Bool => {
                self.try_get::<Option<i64>, _>(index)?.map(Value::Int)
            }
            Kind::Float => self.try_get::<Option<f64>, _>(index)?.map(Value::Float),
            Kind::Text => self.try_get::<Option<String>, _>(index)?.map(Value::Text),
            Kind::Bytes => self.try_get::<Option<Vec<u8>>, _>(index)?.map(Value::Bytes),
        }
        .unwrap_or(Value::Null))
    }
}

impl ReadValue for PgRow {
    fn value(&self, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Int16 => self
                .try_get::<Option<i16>, _>(index)?
                .map(|n| Value::Int(n.into())),
            Kind::Int32 => self
                .try_get::<Option<i32>, _>(index)?
                .map(|n| Value::Int(n.into())),
            Kind::Int64 => self.try_get::<Option<i64>, _>(index)?.map(Value::Int),
            Kind::Bool => self.try_get::<Option<bool>, _>(index)?.map(Value::Bool),
            Kind::Float => self.try_get::<Option<f64>, _>(index)?.map(Value::Float),
            Kind::Text => self.try_get::<Option<String>, _>(index)?.map(Value::Text),
            Kind::Bytes => self.try_get::<Option<Vec<u8>>, _>(index)?.map(Value::Bytes),
        }
        .unwrap_or(Value::Null))
    }
}

/// A table as one database's schema describes it.
#[derive(Debug)]
struct Table {
    /// Its declared columns, in order.
    columns: Vec<(String, Kind)>,
    /// Its primary key's columns, in order.
    primary_key: Vec<String>,
    /// The tables its foreign keys refer to.
    references: BTreeSet<String>,
    /// SQLite: rows have a rowid (the table is not WITHOUT ROWID).
    has_rowid: bool,
    /// SQLite: the rowid is not a declared column (no INTEGER PRIMARY KEY stands for it).
    implicit_rowid: bool,
    /// PostgreSQL: the columns numbered by a sequence (identity or serial).
    numbered: Vec<String>,
}

/// Every table of a database but sqlx's record of migrations, by name.
type Schema = BTreeMap<String, Table>;

/// Columns of a table, as read from the schema: name, declared type, and a flag (SQLite: its
/// position in the primary key; PostgreSQL: whether a sequence numbers it).
type ColumnRow = (String, String, i64);

async fn read_schema(tx: &mut Tx) -> Result<Schema, sqlx::Error> {
    match tx {
        Tx::Sqlite(tx) => sqlite_schema(tx).await,
        Tx::Postgres(tx) => postgres_schema(tx).await,
    }
}

async fn sqlite_schema(conn: &mut SqliteConnection) -> Result<Schema, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> $1 ORDER BY name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for (name, sql) in tables {
        let columns: Vec<ColumnRow> =
            sqlx::query_as("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
        let references: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?;
        let mut key: Vec<(i64, String, String)> = columns
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(column, declared, pk)| (*pk, column.clone(), declared.clone()))
            .collect();
        key.sort();
        let words: Vec<String> = sql
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let has_rowid = !words
            .windows(2)
            .any(|w| w[0] == "WITHOUT" && w[1] == "ROWID");
        let rowid_alias = key.len() == 1 && key[0].2.eq_ignore_ascii_case("INTEGER");
        let declares_rowid = columns
            .iter()
            .any(|(c, _, _)| c.eq_ignore_ascii_case("rowid"));
        schema.insert(
            name.clone(),
            Table {
                columns: columns
                    .iter()
                    .map(|(column, declared, _)| {
                        Kind::of_sqlite(declared)
                            .map(|kind| (column.clone(), kind))
                            .ok_or_else(|| unknown_type(&name, column, declared))
                    })
                    .collect::<Result<_, _>>()?,
                primary_key: key.into_iter().map(|(_, column, _)| column).collect(),
                references: references.into_iter().collect(),
                has_rowid,
                implicit_rowid: has_rowid && !rowid_alias && !declares_rowid,
                numbered: Vec::new(),
            },
        );
    }
    Ok(schema)
}

async fn postgres_schema(conn: &mut PgConnection) -> Result<Schema, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(tablename AS TEXT) FROM pg_catalog.pg_tables \
         WHERE schemaname = current_schema() AND tablename <> $1 ORDER BY tablename",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::new();
    for name in tables {
        // Generated (computed) columns cannot be written; they follow from the others.
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), \
             CAST(CASE WHEN is_identity = 'YES' OR column_default LIKE 'nextval(%' \
             THEN 1 ELSE 0 END AS BIGINT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             AND is_generated <> 'ALWAYS' ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let relation = "to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))";
        let primary_key: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT CAST(a.attname AS TEXT) FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = {relation} AND i.indisprimary \
             ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)"
        )))
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let references: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT CAST(p.relname AS TEXT) FROM pg_constraint k \
             JOIN pg_class p ON p.oid = k.confrelid \
             WHERE k.contype = 'f' AND k.conrelid = {relation}"
        )))
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        schema.insert(
            name.clone(),
            Table {
                numbered: columns
                    .iter()
                    .filter(|(_, _, numbered)| *numbered == 1)
                    .map(|(column, _, _)| column.clone())
                    .collect(),
                columns: columns
                    .iter()
                    .map(|(column, data_type, _)| {
                        Kind::of_postgres(data_type)
                            .map(|kind| (column.clone(), kind))
                            .ok_or_else(|| unknown_type(&name, column, data_type))
                    })
                    .collect::<Result<_, _>>()?,
                primary_key,
                references: references.into_iter().collect(),
                has_rowid: false,
                implicit_rowid: false,
            },
        );
    }
    Ok(schema)
}

fn unknown_type(table: &str, column: &str, declared: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "column {table}.{column} has the type {declared:?}, which `db copy` does not know how \
         to copy"
    ))
}

/// How one table is copied.
#[derive(Debug)]
struct Plan {
    table: String,
    /// Each column copied: its name, its kind in the source and in the target.
    columns: Vec<(String, Kind, Kind)>,
    /// The source's columns to read the rows in order of (their rowid, else their key).
    order_by: Vec<String>,
    /// PostgreSQL target: the columns a sequence numbers.
    numbered: Vec<String>,
}

/// The tables to copy, in an order where each comes after those it refers to, or why the two
/// schemas do not allow a copy.
fn plan(source: &Schema, target: &Schema, to: Backend) -> Result<Vec<Plan>, String> {
    let names = |schema: &Schema| schema.keys().cloned().collect::<BTreeSet<_>>();
    if names(source) != names(target) {
        let only = |a: &Schema, b: &Schema| -> Vec<String> {
            names(a).difference(&names(b)).cloned().collect()
        };
        return Err(format!(
            "their tables differ (only in the source: {:?}; only in the target: {:?})",
            only(source, target),
            only(target, source)
        ));
    }
    let mut plans = Vec::new();
    for name in dependency_order(target)? {
        let (from, into) = (&source[&name], &target[&name]);
        let kind_in = |table: &Table, column: &str, rowid: bool| {
            table
                .columns
                .iter()
                .find(|(c, _)| c == column)
                .map(|(_, kind)| *kind)
                .or_else(|| (rowid && column == "rowid").then_some(Kind::Int64))
        };
        let mut columns = Vec::new();
        for (column, to_kind) in &into.columns {
            let from_kind = kind_in(from, column, from.implicit_rowid).ok_or_else(|| {
                format!("the target's column {name}.{column} is not in the source")
            })?;
            columns.push((column.clone(), from_kind, *to_kind));
        }
        for (column, from_kind) in &from.columns {
            if !into.columns.iter().any(|(c, _)| c == column) {
                let to_kind = kind_in(into, column, into.implicit_rowid).ok_or_else(|| {
                    format!("the source's column {name}.{column} is not in the target")
                })?;
                columns.push((column.clone(), *from_kind, to_kind));
            }
        }
        if from.implicit_rowid && into.implicit_rowid {
            columns.push(("rowid".to_owned(), Kind::Int64, Kind::Int64));
        }
        if let Some((column, from_kind, to_kind)) = columns
            .iter()
            .find(|(_, from_kind, to_kind)| !from_kind.converts_to(*to_kind))
        {
            return Err(format!(
                "the column {name}.{column} is {from_kind:?} in the source and {to_kind:?} in \
                 the target"
            ));
        }
        let order_by = if from.has_rowid || from.columns.iter().any(|(c, _)| c == "rowid") {
            vec!["rowid".to_owned()]
        } else {
            from.primary_key.clone()
        };
        plans.push(Plan {
            table: name,
            columns,
            order_by,
            numbered: match to {
                Backend::Postgres => into.numbered.clone(),
                Backend::Sqlite => Vec::new(),
            },
        });
    }
    Ok(plans)
}

/// The tables of `schema`, each after the tables its foreign keys refer to; among tables free
/// to go, by name.
fn dependency_order(schema: &Schema) -> Result<Vec<String>, String> {
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = schema
        .iter()
        .map(|(name, table)| {
            let parents = table
                .references
                .iter()
                .map(String::as_str)
                .filter(|parent| *parent != name && schema.contains_key(*parent))
                .collect();
            (name.as_str(), parents)
        })
        .collect();
    let mut order = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        let Some(next) = waiting
            .iter()
            .find(|(_, parents)| parents.is_empty())
            .map(|(name, _)| *name)
        else {
            return Err(format!(
                "the foreign keys of the tables {:?} refer to each other in a circle",
                waiting.keys().collect::<Vec<_>>()
            ));
        };
        waiting.remove(next);
        for parents in waiting.values_mut() {
            parents.remove(next);
        }
        order.push(next.to_owned());
    }
    Ok(order)
}

/// An identifier quoted for both backends.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

async fn count(tx: &mut Tx, table: &str) -> Result<u64, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM {}", quoted(table));
    let rows: i64 = on_tx!(tx, |conn| {
        sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(conn).await
    })?;
    Ok(rows.try_into().unwrap_or_default())
}

/// Where a table's copy failed.
enum Failure {
    Source(sqlx::Error),
    Target(sqlx::Error),
    Value(String),
}

/// Copies one table's rows, reading them from `source` in order and writing them to `target`
/// in batches; gives how many rows it wrote.
async fn copy_table(
    source: &mut Tx,
    target: &mut Tx,
    plan: &Plan,
    progress: &mut impl FnMut(CopyProgress<'_>),
) -> Result<u64, Failure> {
    let names = |columns: &mut dyn Iterator<Item = &String>| {
        columns.map(|c| quoted(c)).collect::<Vec<_>>().join(", ")
    };
    let mut select = format!(
        "SELECT {} FROM {}",
        names(&mut plan.columns.iter().map(|(c, _, _)| c)),
        quoted(&plan.table)
    );
    if !plan.order_by.is_empty() {
        select.push_str(" ORDER BY ");
        select.push_str(&names(&mut plan.order_by.iter()));
    }
    let insert = format!(
        "INSERT INTO {} ({}){} ",
        quoted(&plan.table),
        names(&mut plan.columns.iter().map(|(c, _, _)| c)),
        if plan.numbered.is_empty() {
            ""
        } else {
            " OVERRIDING SYSTEM VALUE"
        }
    );
    let batch = (VALUES_PER_INSERT / plan.columns.len().max(1)).clamp(1, ROWS_PER_INSERT);
    let mut rows = Vec::with_capacity(batch);
    let mut copied = 0;
    on_tx!(source, |conn| {
        let mut stream = sqlx::query(AssertSqlSafe(select)).fetch(conn);
        while let Some(row) = stream.try_next().await.map_err(Failure::Source)? {
            let mut values = Vec::with_capacity(plan.columns.len());
            for (index, (column, from, to)) in plan.columns.iter().enumerate() {
                let value = row.value(index, *from).map_err(Failure::Source)?;
                values.push(value.convert(*to).map_err(|reason| {
                    Failure::Value(format!("{}.{column}: {reason}", plan.table))
                })?);
            }
            rows.push(values);
            if rows.len() == batch {
                copied += write_rows(target, &insert, plan, std::mem::take(&mut rows)).await?;
                progress(CopyProgress::Rows(batch as u64));
            }
        }
    });
    if !rows.is_empty() {
        let last = rows.len() as u64;
        copied += write_rows(target, &insert, plan, rows).await?;
        progress(CopyProgress::Rows(last));
    }
    Ok(copied)
}

/// A query builder for `conn`'s database.
fn builder<C: sqlx::Connection>(_conn: &C, sql: &str) -> QueryBuilder<C::Database>
where
    <C::Database as sqlx::Database>::Arguments: Default,
{
    QueryBuilder::new(sql)
}

/// Writes `rows` with one INSERT; gives how many rows it wrote.
async fn write_rows(
    target: &mut Tx,
    insert: &str,
    plan: &Plan,
    rows: Vec<Vec<Value>>,
) -> Result<u64, Failure> {
    on_tx!(target, |conn| {
        let mut query = builder(&*conn, insert);
        query.push_values(rows, |mut row, values| {
            for ((_, _, kind), value) in plan.columns.iter().zip(values) {
                match kind {
                    Kind::Int16 => row.push_bind(value.int().map(|n| n as i16)),
                    Kind::Int32 => row.push_bind(value.int().map(|n| n as i32)),
                    Kind::Int64 => row.push_bind(value.int()),
                    Kind::Bool => row.push_bind(value.boolean()),
                    Kind::Float => row.push_bind(value.float()),
                    Kind::Text => row.push_bind(value.text()),
                    Kind::Bytes => row.push_bind(value.bytes()),
                };
            }
        });
        query
            .build()
            .persistent(false)
            .execute(conn)
            .await
            .map(|done| done.rows_affected())
            .map_err(Failure::Target)
    })
}

/// Moves the sequence numbering `table.column` past the largest value in it.
async fn restart_numbering(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
    column: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({}), 0) + 1, false) FROM {}",
        quoted(column),
        quoted(table)
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(quoted(table))
        .bind(column)
        .execute(&mut **tx)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(references: &[&str]) -> Table {
        Table {
            columns: vec![("id".to_owned(), Kind::Text)],
            primary_key: vec!["id".to_owned()],
            references: references.iter().map(|r| r.to_string()).collect(),
            has_rowid: true,
            implicit_rowid: true,
            numbered: Vec::new(),
        }
    }

    #[test]
    fn parents_come_before_the_tables_that_refer_to_them() {
        let schema: Schema = [
            ("outbox", table(&["alerts"])),
            ("alerts", table(&[])),
            ("canary_keys", table(&["canaries"])),
            ("placements", table(&["canaries", "placements"])),
            ("canaries", table(&[])),
        ]
        .into_iter()
        .map(|(name, table)| (name.to_owned(), table))
        .collect();
        assert_eq!(
            dependency_order(&schema).unwrap(),
            ["alerts", "canaries", "canary_keys", "outbox", "placements"]
        );
        let circle: Schema = [("a", table(&["b"])), ("b", table(&["a"]))]
            .into_iter()
            .map(|(name, table)| (name.to_owned(), table))
            .collect();
        assert!(dependency_order(&circle).unwrap_err().contains("circle"));
    }

    #[test]
    fn flags_and_integers_convert_and_nothing_else_does() {
        assert_eq!(Value::Int(1).convert(Kind::Bool), Ok(Value::Bool(true)));
        assert_eq!(Value::Int(0).convert(Kind::Bool), Ok(Value::Bool(false)));
        assert!(Value::Int(2).convert(Kind::Bool).is_err());
        assert_eq!(Value::Bool(true).convert(Kind::Int64), Ok(Value::Int(1)));
        assert_eq!(Value::Null.convert(Kind::Bool), Ok(Value::Null));
        assert!(Value::Int(1 << 40).convert(Kind::Int32).is_err());
        assert_eq!(
            Value::Int(i64::MAX).convert(Kind::Int64),
            Ok(Value::Int(i64::MAX))
        );
        assert!(Value::Text("1".into()).convert(Kind::Int64).is_err());
        assert!(Kind::Int64.converts_to(Kind::Bool));
        assert!(!Kind::Text.converts_to(Kind::Bytes));
    }
}
