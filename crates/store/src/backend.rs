//! The two databases a store can live in, and every place where their SQL differs.
//!
//! Queries are written once, with numbered placeholders (`$1`, which SQLite accepts too), and
//! run on either pool through `on_pool!` or `on_tx!`: each expands its body once per
//! backend, so every arm is compiled against its own driver's types (sqlx's `Any` driver would
//! decode SQLite's booleans wrongly).
//!
//! What cannot be written the same way is named in one place each: the methods of [`Backend`]
//! below (JSON label pairs, text search, row locks), how `Store::write` begins a transaction,
//! how `Store::migrate` lists a database's tables, and the two sets of migrations,
//! `migrations/sqlite` and `migrations/postgres`, with the same versions.

use sqlx::{
    Database, Encode, PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Transaction, Type,
};

/// Which database a [`Store`](crate::Store) keeps its data in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file (or an in-memory database): the default, embedded.
    Sqlite,
    /// A PostgreSQL database, named by a `postgres://` URL.
    Postgres,
}

impl Backend {
    /// The backend's name: `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// A table-valued expression of the `key` and `value` columns of the labels of the canary
    /// `c`, a JSON object of text values.
    pub(crate) fn label_pairs(self) -> &'static str {
        match self {
            Backend::Sqlite => "json_each(c.labels)",
            Backend::Postgres => "jsonb_each_text(c.labels::jsonb)",
        }
    }

    /// The function giving the 1-based position of its second argument in its first (0 when
    /// absent), comparing text as it is: no wildcards, case-sensitive.
    pub(crate) fn position_function(self) -> &'static str {
        match self {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        }
    }

    /// `sqlite` for SQLite, `postgres` with ` FOR UPDATE` appended, for a `SELECT` in a write
    /// transaction whose rows the transaction goes on to change: PostgreSQL then makes a
    /// concurrent writer of those rows wait for the commit. SQLite has no row locks and needs
    /// none: its write transactions take the database's write lock when they begin.
    pub(crate) fn locking(self, sql: Locking) -> &'static str {
        match self {
            Backend::Sqlite => sql.sqlite,
            Backend::Postgres => sql.postgres,
        }
    }
}

/// A `SELECT` that locks the rows it reads on PostgreSQL, made by `locking!`.
#[derive(Clone, Copy)]
pub(crate) struct Locking {
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// The [`Locking`] form of a `SELECT` literal: as it is for SQLite, with `FOR UPDATE` for
/// PostgreSQL.
macro_rules! locking {
    ($sql:literal) => {
        $crate::backend::Locking {
            sqlite: $sql,
            postgres: concat!($sql, " FOR UPDATE"),
        }
    };
}

/// An assignment moving `last_alert_at` forward to `$at` (a placeholder), never back: what
/// SQLite's two-argument `MAX` and PostgreSQL's `GREATEST` would say, in SQL both understand.
macro_rules! later_last_alert_at {
    ($at:literal) => {
        concat!(
            "last_alert_at = CASE WHEN last_alert_at IS NULL OR last_alert_at < ",
            $at,
            " THEN ",
            $at,
            " ELSE last_alert_at END"
        )
    };
}

/// A store's connections.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A write transaction on either backend, from [`Store::write`](crate::Store).
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Evaluates `$body` with `$pool` bound to the store's pool (`&SqlitePool` or `&PgPool`): the
/// body is expanded once per backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::backend::Pool::Sqlite($pool) => $body,
            $crate::backend::Pool::Postgres($pool) => $body,
        }
    };
}

/// Evaluates `$body` with `$conn` bound to the connection of the transaction `$tx` (a
/// `&mut Tx`), as `&mut SqliteConnection` or `&mut PgConnection`: the body is expanded once
/// per backend. Use it as `&mut *$conn` to run several statements.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::backend::Tx::Sqlite(tx) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **tx;
                $body
            }
            $crate::backend::Tx::Postgres(tx) => {
                let $conn: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
        }
    };
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub(crate) fn is_postgres_url(url: &str) -> bool {
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    })
}

/// A PostgreSQL URL fit for messages and logs: its password, in the user part or as the
/// `password` parameter, replaced by `***`. A URL that does not parse, or whose user part is
/// not what it parses to (a `/` in an unencoded password ends the host early), shows only its
/// scheme, since where its password is cannot be told.
pub(crate) fn redact(url: &str) -> String {
    const HIDDEN: &str = "***";
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let hidden = || format!("{scheme}://{HIDDEN}");
    let Ok(mut parsed) = url::Url::parse(url) else {
        return hidden();
    };
    let written = rest.rfind('@').map_or("", |at| &rest[..at]);
    let understood = match parsed.password() {
        Some(password) => format!("{}:{password}", parsed.username()),
        None => parsed.username().to_owned(),
    };
    if written != understood {
        return hidden();
    }
    if parsed.password().is_some() {
        parsed
            .set_password(Some(HIDDEN))
            .expect("a URL with a password has a host");
    }
    if parsed
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name.eq_ignore_ascii_case("password") {
                    HIDDEN.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Ends `query` with ` AND key IN ($n, …)` over `keys`, one bound value each; `keys` must not
/// be empty, which `IN ()` would not parse on PostgreSQL.
pub(crate) fn and_key_in<'a, DB>(query: &mut QueryBuilder<DB>, keys: &'a [String])
where
    DB: Database,
    &'a String: Encode<'a, DB> + Type<DB>,
{
    query.push(" AND key IN (");
    let mut listed = query.separated(", ");
    for key in keys {
        listed.push_bind(key);
    }
    query.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_told_by_scheme() {
        for url in [
            "postgres://db.example/tripkey",
            "postgresql://u@db/t",
            "POSTGRES://db/t",
        ] {
            assert!(is_postgres_url(url), "{url}");
        }
        for url in [
            "sqlite:tripkey.db",
            "sqlite::memory:",
            "/var/lib/tripkey/tripkey.db",
            "postgres.db",
            "",
        ] {
            assert!(!is_postgres_url(url), "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        assert_eq!(
            redact("postgres://tripkey:s3cr%40t@db.example:5432/tripkey?sslmode=require"),
            "postgres://tripkey:***@db.example:5432/tripkey?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://db.example/tripkey?user=t&password=s3cret&sslmode=verify-full"),
            "postgresql://db.example/tripkey?user=t&password=***&sslmode=verify-full"
        );
        assert_eq!(
            redact("postgres://tripkey@db.example/tripkey"),
            "postgres://tripkey@db.example/tripkey"
        );
        // An unencoded `/` in the password: the URL does not parse, or parses to another host.
        assert_eq!(
            redact("postgres://tripkey:pa/ss@db:port/x"),
            "postgres://***"
        );
        assert_eq!(redact("postgres://tripkey:123/ss@db/x"), "postgres://***");
        assert_eq!(redact("not a url"), "postgres://***");
    }
}
