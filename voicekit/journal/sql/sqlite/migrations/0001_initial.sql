-- The schema voicekit 0.1.0 wrote: one campaign per file. A journal made by an early 0.1.0
-- lacks the columns `sent` and `number` of `calls`: they are added before this step is recorded
-- as applied (SQLite has no ADD COLUMN IF NOT EXISTS); every statement here is idempotent.

CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    row INTEGER,
    state TEXT NOT NULL,
    request_id TEXT,
    error_type TEXT,
    error TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    sent REAL,
    number TEXT
);
CREATE TABLE IF NOT EXISTS outcomes (
    vendor_id TEXT PRIMARY KEY,
    key TEXT UNIQUE,
    answered INTEGER NOT NULL,
    request_id TEXT,
    number TEXT,
    time REAL,
    billed_seconds INTEGER,
    rate TEXT,
    hangup_reason TEXT,
    source TEXT NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_unmatched ON outcomes (request_id) WHERE key IS NULL;
CREATE INDEX IF NOT EXISTS calls_request_id ON calls (request_id) WHERE request_id IS NOT NULL;
