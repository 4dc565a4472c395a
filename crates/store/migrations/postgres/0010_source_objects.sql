-- Objects a polling source listed and no worker has read yet. The one worker that lists a
-- bucket at a time puts what it finds here, with its checkpoint, in one transaction; every
-- worker claims batches of them (FOR UPDATE SKIP LOCKED), so any worker may read any object.
-- A claim runs out when its worker dies, and another worker takes the object; the row goes
-- once the batch that read it is committed, or once it is recorded as unreadable (see
-- source_failures).
CREATE TABLE source_objects (
    source           TEXT COLLATE "C" NOT NULL,
    key              TEXT COLLATE "C" NOT NULL,
    -- The account and region folder the key is in; empty for an unreadable object tried again.
    prefix           TEXT COLLATE "C" NOT NULL,
    -- Failed attempts before this one.
    attempts         BIGINT NOT NULL,
    listed_at        BIGINT NOT NULL,
    claimed_by       TEXT,
    claim_expires_at BIGINT,
    PRIMARY KEY (source, key)
);

CREATE INDEX source_objects_prefix ON source_objects (source, prefix);
