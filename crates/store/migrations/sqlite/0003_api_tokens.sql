-- Tokens for tripkey's HTTP API (`POST /ingest` from Lambda forwarders and EventBridge API
-- destinations, the dashboard's API). Only a SHA-256 of each token is kept: the token itself is
-- shown once, when it is made.

CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY NOT NULL,
    sha256       TEXT NOT NULL UNIQUE,
    -- Space-separated scopes, e.g. `ingest`.
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
