-- Redials: how many calls each row has had (a row sent by an earlier version had one), and the
-- attempts before its last one, each with its request id and how it ended.

ALTER TABLE voicekit_rows ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
UPDATE voicekit_rows SET attempts = 1 WHERE sent IS NOT NULL;

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
