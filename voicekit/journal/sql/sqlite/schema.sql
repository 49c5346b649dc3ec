-- The journal's schema on SQLite, as the last migration leaves it (a fresh journal is made
-- from this file; a test checks that replaying every migration gives the same schema).
-- Times are epoch seconds (`datetime(updated, 'unixepoch')` shows one).

CREATE TABLE voicekit_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied REAL NOT NULL
);

CREATE TABLE voicekit_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    loaded INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);

CREATE TABLE voicekit_rows (
    campaign TEXT NOT NULL,
    key TEXT NOT NULL,
    row INTEGER,
    state TEXT NOT NULL,
    spec TEXT,
    number TEXT,
    holder TEXT,
    token TEXT,
    request_id TEXT,
    error_type TEXT,
    error TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    sent REAL,
    updated REAL NOT NULL,
    zones TEXT,
    not_before REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
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
    vendor_id TEXT PRIMARY KEY,
    campaign TEXT,
    key TEXT,
    answered INTEGER NOT NULL,
    request_id TEXT,
    number TEXT,
    time REAL,
    billed_seconds INTEGER,
    rate TEXT,
    hangup_reason TEXT,
    source TEXT NOT NULL,
    received REAL NOT NULL,
    UNIQUE (campaign, key)
);
CREATE INDEX voicekit_outcomes_unmatched ON voicekit_outcomes (request_id) WHERE key IS NULL;

CREATE TABLE voicekit_workers (
    id TEXT PRIMARY KEY,
    campaign TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    expires REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX voicekit_workers_campaign ON voicekit_workers (campaign, state);

-- Numbers never to call, as digits (E.164 without the "+"), per campaign.
CREATE TABLE voicekit_suppressed (
    campaign TEXT NOT NULL,
    number TEXT NOT NULL,
    added REAL NOT NULL,
    PRIMARY KEY (campaign, number)
);

-- The attempts of a row before its last one (redials), each with how it ended.
CREATE TABLE voicekit_attempts (
    campaign TEXT NOT NULL,
    key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    request_id TEXT,
    vendor_id TEXT,
    answered INTEGER,
    hangup_reason TEXT,
    time REAL,
    billed_seconds INTEGER,
    PRIMARY KEY (campaign, key, attempt)
);
CREATE INDEX voicekit_attempts_vendor_id ON voicekit_attempts (vendor_id);
