-- The `serve` processes sharing this database, and who holds what.
--
-- Each worker writes its row every few seconds (its heartbeat) with its counters; `status`
-- and /metrics show them, and a worker not seen for a while is shown as gone.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    seen_at      INTEGER NOT NULL,
    batches      INTEGER NOT NULL,
    records      INTEGER NOT NULL,
    alerts       INTEGER NOT NULL,
    -- The newest event time the worker committed: its lag is seen_at minus this.
    newest_event INTEGER,
    -- Set when the worker stopped cleanly.
    stopped_at   INTEGER
) STRICT;

-- Leases: a singleton job (kind `job`: the canary chores, an S3 lister) or the deliveries of
-- one sink and rate-limit key (kind `delivery`) belong to one worker until expires_at, which
-- the holder keeps moving forward while it lives. A lease past its expiry may be taken by
-- any worker, so a dead worker's jobs move to a live one within one lease. Times come from
-- the database's clock, so workers' clocks need not agree.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('job', 'delivery')),
    holder      TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX leases_by_holder ON leases (holder);
