-- Objects a source listed but could not read (access denied, a KMS key it may not use, a
-- failed download): retried with backoff, and after too many failures quarantined, that is
-- reported and no longer retried until `tripkey source retry` asks. A failing object never
-- holds up the rest of its prefix.
CREATE TABLE source_failures (
    source          TEXT COLLATE "C" NOT NULL,
    key             TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at  BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT NOT NULL,
    quarantined_at  BIGINT,
    PRIMARY KEY (source, key)
);

CREATE INDEX source_failures_due ON source_failures (source, next_attempt_at) WHERE quarantined_at IS NULL;
