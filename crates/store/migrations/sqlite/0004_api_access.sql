-- The HTTP API: scoped tokens that may pin and allow labels and expire, who issued each canary,
-- where canaries were planted, an audit log of every mutating call, the life of an alert
-- (acknowledged, resolved), and idempotency keys for issuing.

-- Labels forced onto every canary the token issues, and the labels it may set, as JSON objects
-- of key to value and key to glob pattern.
ALTER TABLE api_tokens ADD COLUMN pinned_labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE api_tokens ADD COLUMN allowed_labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;

-- The token that issued the canary; NULL when it was issued from the command line.
ALTER TABLE canaries ADD COLUMN issued_by TEXT;
CREATE INDEX canaries_by_issuer_token ON canaries (issued_by, created_at, id);
CREATE INDEX canaries_by_created ON canaries (created_at, id);

CREATE TABLE placements (
    id         TEXT PRIMARY KEY NOT NULL,
    canary_id  TEXT NOT NULL REFERENCES canaries (id),
    host       TEXT,
    path       TEXT,
    format     TEXT,
    os         TEXT,
    user_name  TEXT,
    created_at INTEGER NOT NULL,
    -- The token that recorded it; NULL from the command line.
    created_by TEXT,
    -- Set when the record is removed: the placement history stays.
    removed_at INTEGER
) STRICT;

CREATE INDEX placements_by_canary ON placements (canary_id, created_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    -- The token's name, or `cli` / `anonymous`.
    actor   TEXT NOT NULL,
    scope   TEXT NOT NULL,
    -- What was attempted, e.g. `canary.create`.
    action  TEXT NOT NULL,
    -- The object acted on (a canary id, a token name, an alert's dedup key), when there is one.
    object  TEXT,
    address TEXT,
    -- `allowed`, `denied` or `failed`.
    outcome TEXT NOT NULL,
    -- What the caller asked, without secrets, and why it was refused or failed (JSON).
    detail  TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX audit_by_time ON audit_log (at, id);

-- An alert's handling, apart from `status` (whether a burst may still grow): `open`,
-- `acknowledged` or `resolved`, with who moved it there, when, and their note.
ALTER TABLE alerts ADD COLUMN state TEXT NOT NULL DEFAULT 'open';
ALTER TABLE alerts ADD COLUMN state_note TEXT;
ALTER TABLE alerts ADD COLUMN state_by TEXT;
ALTER TABLE alerts ADD COLUMN state_at INTEGER;
-- The canary an alert is about, so a canary's alerts and `?canary=` need no JSON scan.
ALTER TABLE alerts ADD COLUMN canary TEXT;
UPDATE alerts SET canary = json_extract(body, '$.details.canary')
    WHERE json_extract(body, '$.details.kind') = 'canary';

CREATE INDEX alerts_by_state ON alerts (state, detected_at, dedup_key);
CREATE INDEX alerts_by_detected ON alerts (detected_at, dedup_key);
CREATE INDEX alerts_by_canary ON alerts (canary, detected_at);

-- A POST /api/v1/canaries with an Idempotency-Key header: the canary it issued, so a repeat
-- within 24 h issues nothing new.
CREATE TABLE idempotency_keys (
    token      TEXT NOT NULL,
    key        TEXT NOT NULL,
    canary_id  TEXT NOT NULL REFERENCES canaries (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (token, key)
) STRICT;
