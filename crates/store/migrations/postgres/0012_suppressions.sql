-- Suppression rules: alerts they match are stored, counted, shown and audited as usual, but
-- not notified. Every condition given must hold; at least one is given.
CREATE TABLE suppressions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    -- A rule id, e.g. `access-denied-burst`.
    rule        TEXT,
    -- The alert's principal ARN (or a denial burst's principal key), exactly.
    principal   TEXT,
    -- The call's source address must fall in this CIDR.
    source_cidr TEXT,
    -- A pattern over the userAgent, `*` matching any run of characters.
    user_agent  TEXT,
    reason      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    -- True when an admin let it cover canary-use and canary-drift alerts (audited).
    covers_canaries BOOLEAN NOT NULL DEFAULT FALSE,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    removed_at  BIGINT,
    removed_by  TEXT
);

-- The suppression that kept an alert from being notified.
ALTER TABLE alerts ADD COLUMN suppressed_by TEXT;
