-- The canary registry. Rows are never deleted: a revoked canary keeps its record and history,
-- so an alert on an old key can still be explained. Enumerations are stored as their text form
-- and checked when read, so adding a variant needs no schema change (as in SQLite's schema).
--
-- The schema mirrors migrations/sqlite version by version, with PostgreSQL's types: BIGINT for
-- times (event-time milliseconds) and counts, BOOLEAN for flags, BYTEA for bytes. Text that is
-- sorted or compared by order is COLLATE "C", so it orders byte by byte as in SQLite, whatever
-- the database's locale: pages and listings come out the same on both backends.

CREATE TABLE canaries (
    id            TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT COLLATE "C" NOT NULL,
    issuer        TEXT NOT NULL,
    account_id    TEXT COLLATE "C" NOT NULL,
    access_key_id TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    -- The name carries the canary id, so it is unique across accounts too; lookups by user name
    -- (from CloudTrail's userName or an error message) need that.
    name          TEXT NOT NULL UNIQUE,
    path          TEXT NOT NULL,
    -- A JSON object of text values; filtered with jsonb_each_text.
    labels        TEXT NOT NULL DEFAULT '{}',
    memo          TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    rotated_at    BIGINT,
    revoked_at    BIGINT,
    status        TEXT NOT NULL,
    last_alert_at BIGINT,
    -- Present only when the issuer was told to keep the secret: version, nonce, ciphertext.
    sealed_secret BYTEA
);

CREATE INDEX canaries_by_account ON canaries (account_id, status);

-- Every access key a canary has held. Short-term key IDs are not unique over time and a rotated
-- key lives on through its grace period, so a key ID maps to canaries through this table.
CREATE TABLE canary_keys (
    canary_id     TEXT COLLATE "C" NOT NULL REFERENCES canaries (id),
    access_key_id TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    retired_at    BIGINT,
    deleted_at    BIGINT,
    -- The order keys were recorded in: SQLite's implicit rowid, made explicit, so that the same
    -- ORDER BY breaks ties between keys issued at the same time.
    rowid         BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (canary_id, access_key_id)
);

CREATE INDEX canary_keys_by_key ON canary_keys (access_key_id);

CREATE TABLE canary_events (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    canary_id TEXT COLLATE "C" NOT NULL REFERENCES canaries (id),
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL
);

CREATE INDEX canary_events_by_canary ON canary_events (canary_id, at, seq);
