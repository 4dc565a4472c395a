-- Tokens for tripkey's HTTP API (`POST /ingest` from Lambda forwarders and EventBridge API
-- destinations, the dashboard's API). Only a SHA-256 of each token is kept: the token itself is
-- shown once, when it is made.

CREATE TABLE api_tokens (
    name         TEXT COLLATE "C" PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    -- Space-separated scopes, e.g. `ingest`.
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
