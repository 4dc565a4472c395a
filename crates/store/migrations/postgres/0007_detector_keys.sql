-- The detectors' memory, one row per key (an instance's sessions, a principal's denials), so
-- that a batch reads and writes only the keys its records touch instead of the whole state.
-- `wake_at` is the event time at which the key is next due to be settled (a decision to
-- release, a burst to close, memory to forget); a batch whose stream time has passed it
-- loads the key and settles it, a few keys at a time. `unsettled` marks keys changed since
-- the input last went quiet: the quiet-spell release reads only those.
CREATE TABLE detector_keys (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    wake_at    BIGINT,
    unsettled  BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX detector_keys_due ON detector_keys (wake_at, key) WHERE wake_at IS NOT NULL;
CREATE INDEX detector_keys_unsettled ON detector_keys (key) WHERE unsettled = TRUE;

-- Where each worker's event time stands and how late its records came. The stream's time is
-- the newest of all workers; lateness counters add up across them.
CREATE TABLE detector_position (
    worker     TEXT COLLATE "C" PRIMARY KEY,
    newest     BIGINT,
    lateness   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
