-- Objects a source listed but could not read (access denied, a KMS key it may not use, a
-- failed download): retried with backoff, and after too many failures quarantined, that is
-- reported and no longer retried until `tripkey source retry` asks. A failing object never
-- holds up the rest of its prefix.
CREATE TABLE source_failures (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at  INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT NOT NULL,
    quarantined_at  INTEGER,
    PRIMARY KEY (source, key)
) STRICT;

CREATE INDEX source_failures_due ON source_failures (source, next_attempt_at) WHERE quarantined_at IS NULL;
