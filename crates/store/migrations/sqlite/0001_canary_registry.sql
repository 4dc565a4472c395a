-- The canary registry. Rows are never deleted: a revoked canary keeps its record and history,
-- so an alert on an old key can still be explained. Enumerations are stored as their text form
-- and checked when read, so adding a variant needs no table rebuild (SQLite cannot alter CHECKs).

CREATE TABLE canaries (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    -- The name carries the canary id, so it is unique across accounts too; lookups by user name
    -- (from CloudTrail's userName or an error message) need that.
    name          TEXT NOT NULL UNIQUE,
    path          TEXT NOT NULL,
    -- A JSON object of text values; filtered with json_each.
    labels        TEXT NOT NULL DEFAULT '{}',
    memo          TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    rotated_at    INTEGER,
    revoked_at    INTEGER,
    status        TEXT NOT NULL,
    last_alert_at INTEGER,
    -- Present only when the issuer was told to keep the secret: version, nonce, ciphertext.
    sealed_secret BLOB
) STRICT;

CREATE INDEX canaries_by_account ON canaries (account_id, status);

-- Every access key a canary has held. Short-term key IDs are not unique over time and a rotated
-- key lives on through its grace period, so a key ID maps to canaries through this table.
CREATE TABLE canary_keys (
    canary_id     TEXT NOT NULL REFERENCES canaries (id),
    access_key_id TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    retired_at    INTEGER,
    deleted_at    INTEGER,
    PRIMARY KEY (canary_id, access_key_id)
) STRICT;

CREATE INDEX canary_keys_by_key ON canary_keys (access_key_id);

CREATE TABLE canary_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    canary_id TEXT NOT NULL REFERENCES canaries (id),
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL
) STRICT;

CREATE INDEX canary_events_by_canary ON canary_events (canary_id, at, seq);
