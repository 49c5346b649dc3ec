-- The journal's schema on PostgreSQL, as the last migration leaves it (a fresh journal is made
-- from this file; a test checks that replaying every migration gives the same schema).
-- Times are epoch seconds by the database's clock; `to_timestamp(updated)` shows one.

CREATE TABLE voicekit_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied double precision NOT NULL
);

CREATE TABLE voicekit_campaigns (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    identity text NOT NULL,
    state text NOT NULL DEFAULT 'active',
    loaded integer NOT NULL DEFAULT 0,
    created double precision NOT NULL
);

CREATE TABLE voicekit_rows (
    campaign text NOT NULL,
    key text NOT NULL,
    row integer,
    state text NOT NULL,
    spec text,
    number text,
    holder text,
    token text,
    request_id text,
    error_type text,
    error text,
    retryable integer NOT NULL DEFAULT 0,
    sent double precision,
    updated double precision NOT NULL,
    zones text,
    not_before double precision,
    attempts integer NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, key)
);
CREATE INDEX voicekit_rows_free ON voicekit_rows (campaign, row)
    WHERE state = 'pending' AND holder IS NULL AND not_before IS NULL;
CREATE INDEX voicekit_rows_waiting ON voicekit_rows (campaign, not_before)
    WHERE state = 'pending' AND holder IS NULL AND not_before IS NOT NULL;
CREATE INDEX voicekit_rows_held ON voicekit_rows (holder) WHERE state IN ('pending', 'sending');
CREATE INDEX voicekit_rows_request_id ON voicekit_rows (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX voicekit_rows_number ON voicekit_rows (number);
CREATE INDEX voicekit_rows_order ON voicekit_rows (campaign, coalesce(row, 0), key);

CREATE TABLE voicekit_outcomes (
    vendor_id text PRIMARY KEY,
    campaign text,
    key text,
    answered integer NOT NULL,
    request_id text,
    number text,
    time double precision,
    billed_seconds integer,
    rate text,
    hangup_reason text,
    source text NOT NULL,
    received double precision NOT NULL,
    UNIQUE (campaign, key)
);
CREATE INDEX voicekit_outcomes_unmatched ON voicekit_outcomes (request_id) WHERE key IS NULL;

CREATE TABLE voicekit_workers (
    id text PRIMARY KEY,
    campaign text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started double precision NOT NULL,
    expires double precision NOT NULL,
    state text NOT NULL
);
CREATE INDEX voicekit_workers_campaign ON voicekit_workers (campaign, state);

-- Numbers never to call, as digits (E.164 without the "+"), per campaign.
CREATE TABLE voicekit_suppressed (
    campaign text NOT NULL,
    number text NOT NULL,
    added double precision NOT NULL,
    PRIMARY KEY (campaign, number)
);

-- The attempts of a row before its last one (redials), each with how it ended.
CREATE TABLE voicekit_attempts (
    campaign text NOT NULL,
    key text NOT NULL,
    attempt integer NOT NULL,
    request_id text,
    vendor_id text,
    answered integer,
    hangup_reason text,
    time double precision,
    billed_seconds integer,
    PRIMARY KEY (campaign, key, attempt)
);
CREATE INDEX voicekit_attempts_vendor_id ON voicekit_attempts (vendor_id);
