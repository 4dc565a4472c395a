-- The `serve` processes sharing this database, and who holds what.
--
-- Each worker writes its row every few seconds (its heartbeat) with its counters; `status`
-- and /metrics show them, and a worker not seen for a while is shown as gone.
CREATE TABLE workers (
    id           TEXT COLLATE "C" PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    seen_at      BIGINT NOT NULL,
    batches      BIGINT NOT NULL,
    records      BIGINT NOT NULL,
    alerts       BIGINT NOT NULL,
    -- The newest event time the worker committed: its lag is seen_at minus this.
    newest_event BIGINT,
    -- Set when the worker stopped cleanly.
    stopped_at   BIGINT
);

-- Leases: a singleton job (kind `job`: the canary chores, an S3 lister) or the deliveries of
-- one sink and rate-limit key (kind `delivery`) belong to one worker until expires_at, which
-- the holder keeps moving forward while it lives. A lease past its expiry may be taken by
-- any worker, so a dead worker's jobs move to a live one within one lease. Times come from
-- the database's clock, so workers' clocks need not agree.
CREATE TABLE leases (
    name        TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('job', 'delivery')),
    holder      TEXT COLLATE "C" NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX leases_by_holder ON leases (holder);
