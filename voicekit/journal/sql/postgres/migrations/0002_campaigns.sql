-- Many campaigns per database: every table gains the campaign's id; the campaign's identity
-- moves from voicekit_meta to voicekit_campaigns; times become epoch seconds; rows keep the
-- number they dial (filled from the stored spec after this step). The 0.1.0 campaign, if any,
-- becomes the campaign %(campaign_id)s named %(campaign_name)s.

CREATE TEMP TABLE voicekit_v1_outcomes ON COMMIT DROP AS SELECT * FROM voicekit_outcomes;
CREATE TEMP TABLE voicekit_v1_workers ON COMMIT DROP AS SELECT * FROM voicekit_workers;
DROP TABLE voicekit_outcomes;
DROP TABLE voicekit_workers;

CREATE TABLE voicekit_campaigns (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    identity text NOT NULL,
    state text NOT NULL DEFAULT 'active',
    loaded integer NOT NULL DEFAULT 0,
    created double precision NOT NULL
);
INSERT INTO voicekit_campaigns (id, name, identity, state, loaded, created)
SELECT %(campaign_id)s, %(campaign_name)s, c.value, 'active',
       coalesce((SELECT (value = '1')::integer FROM voicekit_meta WHERE name = 'loaded'), 0),
       coalesce((SELECT value::double precision FROM voicekit_meta WHERE name = 'created'), 0)
FROM voicekit_meta c WHERE c.name = 'campaign';

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
    PRIMARY KEY (campaign, key)
);
INSERT INTO voicekit_rows (campaign, key, row, state, spec, number, holder, token, request_id, error_type, error,
                           retryable, sent, updated)
SELECT %(campaign_id)s, key, row, state, spec, NULL, holder, token, request_id, error_type, error, retryable,
       extract(epoch FROM sent)::float8, extract(epoch FROM updated)::float8
FROM voicekit_calls;
DROP TABLE voicekit_calls;
CREATE INDEX voicekit_rows_free ON voicekit_rows (campaign, row) WHERE state = 'pending' AND holder IS NULL;
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
INSERT INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time, billed_seconds, rate,
                               hangup_reason, source, received)
SELECT vendor_id, CASE WHEN key IS NULL THEN NULL ELSE %(campaign_id)s END, key, answered::integer, request_id,
       number, time, billed_seconds, rate, hangup_reason, source, extract(epoch FROM received)::float8
FROM voicekit_v1_outcomes;
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
INSERT INTO voicekit_workers (id, campaign, host, pid, started, expires, state)
SELECT id, %(campaign_id)s, host, pid, extract(epoch FROM started)::float8, extract(epoch FROM expires)::float8, state
FROM voicekit_v1_workers;
CREATE INDEX voicekit_workers_campaign ON voicekit_workers (campaign, state);

DROP TABLE voicekit_meta;
