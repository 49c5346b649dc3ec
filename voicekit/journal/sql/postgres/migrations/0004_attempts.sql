-- Redials: how many calls each row has had (a row sent by an earlier version had one), and the
-- attempts before its last one, each with its request id and how it ended.

ALTER TABLE voicekit_rows ADD COLUMN attempts integer NOT NULL DEFAULT 0;
UPDATE voicekit_rows SET attempts = 1 WHERE sent IS NOT NULL;

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
