-- The schema voicekit 0.1.0 wrote: one campaign per database. Every statement is idempotent so
-- that a journal made by 0.1.0 (which grew `sent` and the outcomes table on open) is completed
-- by running this file again before it is recorded as applied.

CREATE TABLE IF NOT EXISTS voicekit_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS voicekit_workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL,
    expires timestamptz NOT NULL,
    state text NOT NULL
);
CREATE TABLE IF NOT EXISTS voicekit_calls (
    key text PRIMARY KEY,
    row integer,
    state text NOT NULL,
    spec text,
    holder text,
    token text,
    request_id text,
    error_type text,
    error text,
    retryable integer NOT NULL DEFAULT 0,
    updated timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS voicekit_calls_free ON voicekit_calls (row) WHERE state = 'pending' AND holder IS NULL;
CREATE INDEX IF NOT EXISTS voicekit_calls_held ON voicekit_calls (holder) WHERE state IN ('pending', 'sending');
ALTER TABLE voicekit_calls ADD COLUMN IF NOT EXISTS sent timestamptz;
CREATE TABLE IF NOT EXISTS voicekit_outcomes (
    vendor_id text PRIMARY KEY,
    key text UNIQUE,
    answered boolean NOT NULL,
    request_id text,
    number text,
    time double precision,
    billed_seconds integer,
    rate text,
    hangup_reason text,
    source text NOT NULL,
    received timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS voicekit_outcomes_unmatched ON voicekit_outcomes (request_id) WHERE key IS NULL;
CREATE INDEX IF NOT EXISTS voicekit_calls_request_id ON voicekit_calls (request_id) WHERE request_id IS NOT NULL;
