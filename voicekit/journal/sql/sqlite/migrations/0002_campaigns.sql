-- The PostgreSQL journal's shape, so that one logic serves both: the campaign's identity moves
-- from `meta` to voicekit_campaigns, rows gain the campaign's id and their spec (filled by the
-- next load: a 0.1.0 SQLite journal read its specs from the campaign file), outcomes the
-- campaign's id, and a table of workers appears. The 0.1.0 campaign becomes the campaign
-- :campaign_id named :campaign_name.

CREATE TABLE voicekit_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    loaded INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
-- Not loaded: the next run's load adds the specs (and changes no row's state).
INSERT INTO voicekit_campaigns (id, name, identity, state, loaded, created)
SELECT :campaign_id, :campaign_name, c.value, 'active', 0,
       coalesce((SELECT CAST(value AS REAL) FROM meta WHERE name = 'created'), 0)
FROM meta c WHERE c.name = 'campaign';

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
    PRIMARY KEY (campaign, key)
);
INSERT INTO voicekit_rows (campaign, key, row, state, spec, number, holder, token, request_id, error_type, error,
                           retryable, sent, updated)
SELECT :campaign_id, key, row, state, NULL, number, NULL, NULL, request_id, error_type, error, retryable, sent, updated
FROM calls;
DROP TABLE calls;
CREATE INDEX voicekit_rows_free ON voicekit_rows (campaign, row) WHERE state = 'pending' AND holder IS NULL;
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
INSERT INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time, billed_seconds, rate,
                               hangup_reason, source, received)
SELECT vendor_id, CASE WHEN key IS NULL THEN NULL ELSE :campaign_id END, key, answered, request_id, number, time,
       billed_seconds, rate, hangup_reason, source, received
FROM outcomes;
DROP TABLE outcomes;
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

DROP TABLE meta;
