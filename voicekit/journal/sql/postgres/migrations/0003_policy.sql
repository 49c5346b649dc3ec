-- Campaign policy: a row's time zones (its calling window is judged in them) and the moment
-- before which it is not dialed (its window is closed); numbers never to call.

ALTER TABLE voicekit_rows ADD COLUMN zones text;
ALTER TABLE voicekit_rows ADD COLUMN not_before double precision;

CREATE TABLE voicekit_suppressed (
    campaign text NOT NULL,
    number text NOT NULL,
    added double precision NOT NULL,
    PRIMARY KEY (campaign, number)
);
