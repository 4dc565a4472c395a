-- Detection that does not depend on delivery order revises alerts after the fact: a late
-- record can show that an alert rested on a wrong premise (it is withdrawn, with the reason)
-- or that a denial burst began earlier than first seen (its alert is renamed to its true
-- dedup key). A withdrawal is told to every sink that was told of the alert, so the outbox
-- gains the kind of notice each row carries.

ALTER TABLE alerts ADD COLUMN withdrawn_because TEXT;

CREATE TABLE outbox_with_kinds (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT NOT NULL REFERENCES alerts (dedup_key),
    sink            TEXT NOT NULL,
    -- `raised` (the alert) or `withdrawn` (the alert taken back).
    kind            TEXT NOT NULL DEFAULT 'raised',
    limit_key       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    digest_size     INTEGER,
    UNIQUE (dedup_key, sink, kind)
) STRICT;

INSERT INTO outbox_with_kinds (id, dedup_key, sink, limit_key, created_at, next_attempt_at,
    attempts, last_error, delivered_at, failed_at, digest_size)
SELECT id, dedup_key, sink, limit_key, created_at, next_attempt_at, attempts, last_error,
    delivered_at, failed_at, digest_size FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_with_kinds RENAME TO outbox;

CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_limit ON outbox (sink, limit_key, delivered_at);
