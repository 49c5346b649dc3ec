-- Campaign policy: a row's time zones (its calling window is judged in them) and the moment
-- before which it is not dialed (its window is closed); numbers never to call.

ALTER TABLE voicekit_rows ADD COLUMN zones TEXT;
ALTER TABLE voicekit_rows ADD COLUMN not_before REAL;

CREATE TABLE voicekit_suppressed (
    campaign TEXT NOT NULL,
    number TEXT NOT NULL,
    added REAL NOT NULL,
    PRIMARY KEY (campaign, number)
);
