-- What `tripkey serve` keeps so that no alert is lost and none is sent twice: the alerts (unique
-- by dedup key), each source's checkpoint, the detectors' state, and the outbox of deliveries.
-- Alerts, checkpoint, state and the new outbox rows are written in one transaction, so a crash
-- either keeps all of a batch's effects or none of them, and the batch is read again.

CREATE TABLE alerts (
    dedup_key   TEXT COLLATE "C" PRIMARY KEY,
    rule        TEXT COLLATE "C" NOT NULL,
    severity    TEXT NOT NULL,
    -- `open` while it may still grow (a denial burst), `final` after.
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    event_time  BIGINT NOT NULL,
    -- When tripkey first committed it (wall clock); event_time to detected_at is the delay.
    detected_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- The source whose batch raised it.
    source      TEXT NOT NULL,
    -- The canary or principal it is about: notifications are rate-limited per limit key.
    limit_key   TEXT NOT NULL,
    -- The alert as the detectors made it (JSON), its latest version.
    body        TEXT NOT NULL
);

CREATE INDEX alerts_by_time ON alerts (detected_at);

CREATE TABLE checkpoints (
    source     TEXT COLLATE "C" PRIMARY KEY,
    position   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row: the detectors' state (JSON) as of the latest committed batch.
CREATE TABLE detector_state (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per alert and sink it is routed to. A row is pending until delivered_at or
-- failed_at is set; a pending row is tried at next_attempt_at.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key       TEXT COLLATE "C" NOT NULL REFERENCES alerts (dedup_key),
    sink            TEXT COLLATE "C" NOT NULL,
    limit_key       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    BIGINT,
    -- Set when the sink refused it for good (a permanent error): kept, reported, not retried.
    failed_at       BIGINT,
    -- How many alerts the notification that carried this row summarised (1: alone).
    digest_size     BIGINT,
    CONSTRAINT outbox_once_per_sink UNIQUE (dedup_key, sink)
);

CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_limit ON outbox (sink, limit_key, delivered_at);

-- Delivery health per sink, for `tripkey status` and /metrics.
CREATE TABLE sink_health (
    sink                 TEXT COLLATE "C" PRIMARY KEY,
    delivered            BIGINT NOT NULL DEFAULT 0,
    failures             BIGINT NOT NULL DEFAULT 0,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    last_success_at      BIGINT,
    last_failure_at      BIGINT,
    last_error           TEXT
);
