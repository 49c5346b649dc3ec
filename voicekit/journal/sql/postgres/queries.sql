-- The journal's statements on PostgreSQL, by name; sqlite/queries.sql has the same names with
-- the same parameters and results. Each `-- name:` line starts one statement. Lists are
-- arrays (`%(keys)s::text[]`); times are epoch seconds by the database's clock.

-- name: inspect
-- (ledger, legacy, other): the migration ledger exists; a 0.1.0 journal is here; anything else.
SELECT to_regclass('voicekit_migrations') IS NOT NULL, to_regclass('voicekit_meta') IS NOT NULL, false

-- name: lock_setup
-- Serialises set-up, migrations and loads between workers starting at the same moment.
SELECT pg_advisory_xact_lock(8534958290574321268)

-- name: ledger_create
CREATE TABLE IF NOT EXISTS voicekit_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied double precision NOT NULL)

-- name: ledger_version
SELECT coalesce(max(version), 0) FROM voicekit_migrations

-- name: ledger_add
INSERT INTO voicekit_migrations (version, name, applied)
VALUES (%(version)s, %(name)s, extract(epoch FROM clock_timestamp())::float8)

-- name: legacy_meta
SELECT name, value FROM voicekit_meta

-- name: legacy_live_workers
-- Workers of a 0.1.0 voicekit still running this database's campaign.
SELECT count(*) FROM voicekit_workers WHERE state = 'live' AND expires > clock_timestamp()

-- name: v1_columns
-- The columns of a 0.1.0 journal's rows table (an early 0.1.0 lacked some).
SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'voicekit_calls'

-- name: v1_add_sent
ALTER TABLE voicekit_calls ADD COLUMN IF NOT EXISTS sent timestamptz

-- name: v1_add_number
-- 0.1.0's PostgreSQL store kept no number (it is filled from the spec after the upgrade).
SELECT 1

-- name: rows_without_number
SELECT key, spec FROM voicekit_rows
WHERE campaign = %(campaign)s AND number IS NULL AND spec IS NOT NULL ORDER BY key LIMIT %(n)s

-- name: rows_set_number
-- %(numbers)s: [[key, number], ...]
UPDATE voicekit_rows r SET number = o.e->>1
FROM jsonb_array_elements(%(numbers)s::jsonb) AS o(e)
WHERE r.campaign = %(campaign)s AND r.key = o.e->>0
  AND r.key = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(numbers)s::jsonb) AS e))

-- name: campaign_by_name
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns WHERE name = %(name)s

-- name: campaign_by_id
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns WHERE id = %(campaign)s

-- name: campaigns_all
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns ORDER BY created, name

-- name: campaign_insert
INSERT INTO voicekit_campaigns (id, name, identity, state, loaded, created)
VALUES (%(campaign)s, %(name)s, %(identity)s, 'active', 0, extract(epoch FROM clock_timestamp())::float8)

-- name: campaign_set_state
UPDATE voicekit_campaigns SET state = %(state)s WHERE id = %(campaign)s

-- name: campaign_loaded
SELECT loaded FROM voicekit_campaigns WHERE id = %(campaign)s

-- name: campaign_mark_loaded
UPDATE voicekit_campaigns SET loaded = 1 WHERE id = %(campaign)s

-- name: drop_outcomes
DELETE FROM voicekit_outcomes WHERE campaign = %(campaign)s

-- name: drop_workers
DELETE FROM voicekit_workers WHERE campaign = %(campaign)s

-- name: drop_attempts
DELETE FROM voicekit_attempts WHERE campaign = %(campaign)s

-- name: drop_suppressed
DELETE FROM voicekit_suppressed WHERE campaign = %(campaign)s

-- name: drop_rows
DELETE FROM voicekit_rows WHERE campaign = %(campaign)s

-- name: drop_campaign
DELETE FROM voicekit_campaigns WHERE id = %(campaign)s

-- name: counts_by_campaign
SELECT campaign, state, count(*) FROM voicekit_rows GROUP BY campaign, state

-- name: live_workers_by_campaign
SELECT campaign, count(*) FROM voicekit_workers
WHERE state = 'live' AND expires > extract(epoch FROM clock_timestamp())::float8 GROUP BY campaign

-- name: worker_join
INSERT INTO voicekit_workers (id, campaign, host, pid, started, expires, state)
VALUES (%(worker)s, %(campaign)s, %(host)s, %(pid)s, extract(epoch FROM clock_timestamp())::float8,
        extract(epoch FROM clock_timestamp())::float8 + %(lease)s, 'live')

-- name: worker_renew
-- One row while this worker's lease holds (renewing it); none once it expired.
UPDATE voicekit_workers SET expires = extract(epoch FROM clock_timestamp())::float8 + %(lease)s
WHERE id = %(worker)s AND state = 'live' AND expires > extract(epoch FROM clock_timestamp())::float8
RETURNING 1

-- name: worker_done
UPDATE voicekit_workers SET state = 'done' WHERE id = %(worker)s AND state = 'live'

-- name: workers_expire
-- The campaign's workers that can no longer be running: those whose lease expired.
UPDATE voicekit_workers SET state = 'expired'
WHERE campaign = %(campaign)s AND state = 'live' AND expires < extract(epoch FROM clock_timestamp())::float8

-- name: reap
-- The rows of workers that are gone: sending -> unknown (they may have been dialed), reserved
-- pending rows free again. A sending row without a holder was left by voicekit 0.1.0.
UPDATE voicekit_rows SET
    error_type = CASE WHEN state = 'sending' THEN %(error_type)s ELSE error_type END,
    error = CASE WHEN state = 'sending' THEN %(error)s ELSE error END,
    holder = CASE WHEN state = 'pending' THEN NULL ELSE holder END,
    state = CASE WHEN state = 'sending' THEN 'unknown' ELSE state END,
    updated = extract(epoch FROM clock_timestamp())::float8
WHERE campaign = %(campaign)s AND (
    (state = 'sending' AND holder IS NULL)
    OR (state IN ('pending', 'sending') AND holder IN (
        SELECT id FROM voicekit_workers WHERE campaign = %(campaign)s AND state <> 'live')))
RETURNING state

-- name: release_held
UPDATE voicekit_rows SET holder = NULL
WHERE campaign = %(campaign)s AND holder = %(worker)s AND state = 'pending'

-- name: load_stage_create
CREATE TEMP TABLE voicekit_load (key text, row integer, spec text, number text, error text, zones text)

-- name: load_stage_put
COPY voicekit_load (key, row, spec, number, error, zones) FROM STDIN

-- name: load_stage_drop
DROP TABLE voicekit_load

-- name: load_rows
-- Every key once, pending (or failed with its problem); a row already there keeps its state and
-- gains its spec if it had none (a journal made by 0.1.0's SQLite store); a suppressed number's
-- row is suppressed.
INSERT INTO voicekit_rows AS r (campaign, key, row, state, spec, number, error_type, error, updated, zones)
SELECT DISTINCT ON (key) %(campaign)s, key, row,
       CASE WHEN error IS NOT NULL THEN 'failed'
            WHEN EXISTS (SELECT 1 FROM voicekit_suppressed s
                         WHERE s.campaign = %(campaign)s AND s.number = replace(voicekit_load.number, '+', ''))
            THEN 'suppressed' ELSE 'pending' END,
       spec, number, CASE WHEN error IS NULL THEN NULL ELSE 'MalformedRow' END, error,
       extract(epoch FROM clock_timestamp())::float8, zones
FROM voicekit_load ORDER BY key, row
ON CONFLICT (campaign, key) DO UPDATE SET spec = excluded.spec, number = excluded.number, zones = excluded.zones
WHERE r.spec IS NULL AND excluded.spec IS NOT NULL AND r.row = excluded.row

-- name: load_duplicates
-- A row that repeats an earlier row's key: failed, under the key "<key>@row<N>".
INSERT INTO voicekit_rows (campaign, key, row, state, error_type, error, updated)
SELECT %(campaign)s, l.key || '@row' || l.row, l.row, 'failed', 'MalformedRow',
       'duplicate key ' || quote_literal(l.key) || ' (first at row ' || r.row || ')',
       extract(epoch FROM clock_timestamp())::float8
FROM voicekit_load l JOIN voicekit_rows r ON r.campaign = %(campaign)s AND r.key = l.key
WHERE r.row <> l.row
ON CONFLICT (campaign, key) DO NOTHING
RETURNING key, row, error

-- name: undefer
-- The free rows whose moment (not_before) has come at %(now)s lose it, the longest waiting first,
-- at most 1000 a time: the free rows' index holds them again (see reserve).
UPDATE voicekit_rows r SET not_before = NULL
FROM (SELECT key FROM voicekit_rows
      WHERE campaign = %(campaign)s AND state = 'pending' AND holder IS NULL AND not_before IS NOT NULL
        AND not_before <= %(now)s::float8
      ORDER BY not_before LIMIT 1000 FOR UPDATE SKIP LOCKED) due
WHERE r.campaign = %(campaign)s AND r.key = due.key

-- name: reserve
-- The next free pending rows (none while the campaign is not active), held for this worker (two
-- workers never hold one row). A row waiting for its moment has one (not_before): it is not read
-- here, through the free rows' index, until undefer takes it away.
WITH free AS (
    SELECT key FROM voicekit_rows
    WHERE campaign = %(campaign)s AND state = 'pending' AND holder IS NULL AND not_before IS NULL
      AND EXISTS (SELECT 1 FROM voicekit_campaigns c WHERE c.id = %(campaign)s AND c.state = 'active')
    ORDER BY row LIMIT %(n)s FOR UPDATE SKIP LOCKED)
UPDATE voicekit_rows r SET holder = %(worker)s FROM free
WHERE r.campaign = %(campaign)s AND r.key = free.key
RETURNING r.row, r.key, r.spec, r.zones

-- name: rows_left
-- (pending rows nobody holds, pending rows other workers hold, rows other workers are sending),
-- from one snapshot.
SELECT count(*) FILTER (WHERE state = 'pending' AND holder IS NULL),
       count(*) FILTER (WHERE state = 'pending' AND holder IS NOT NULL AND holder <> %(worker)s),
       count(*) FILTER (WHERE state = 'sending' AND holder IS NOT NULL AND holder <> %(worker)s)
FROM voicekit_rows WHERE campaign = %(campaign)s AND state IN ('pending', 'sending')

-- name: pending
-- The keys among %(keys)s this worker may claim: pending and held by it (free ones are taken for
-- it now). Rows held already are only read: rewriting them would cost a row version each.
WITH took AS (
    UPDATE voicekit_rows SET holder = %(worker)s
    WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) AND state = 'pending' AND holder IS NULL
      AND coalesce(not_before, 0) <= %(now)s::float8
    RETURNING key, zones)
SELECT key, zones FROM took
UNION ALL
SELECT key, zones FROM voicekit_rows
WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) AND state = 'pending' AND holder = %(worker)s

-- name: record
-- The outcomes of sent keys: %(outcomes)s is [[key, state, request_id, error_type, error,
-- retryable], ...]. A late outcome also corrects "unknown" (the lease
-- expired while the call was out): it is what the vendor said.
UPDATE voicekit_rows c SET state = o.state, request_id = o.request_id, error_type = o.error_type, error = o.error,
    retryable = o.retryable, updated = extract(epoch FROM clock_timestamp())::float8
FROM (SELECT e->>0 AS key, e->>1 AS state, e->>2 AS request_id, e->>3 AS error_type, e->>4 AS error,
             (e->>5)::integer AS retryable FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e) AS o
WHERE c.campaign = %(campaign)s AND c.key = o.key AND c.holder = %(worker)s AND c.state IN ('sending', 'unknown')
  AND c.key = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e))

-- name: claim
-- One statement, one round trip: renew the lease, write the outcomes ready (as `record`), and
-- mark the pending %(keys)s that are free or this worker's sending (and this worker's). The renewal gates the claim (its row lock orders
-- the claim against a reaper); a retry after a lost commit finds its keys by %(token)s. Nothing
-- is claimed while the campaign is not active (paused, cancelled).
-- Returns (key, 'sending') per key claimed, and ('', 'lost') if the lease had expired.
WITH renew AS (
    UPDATE voicekit_workers SET expires = extract(epoch FROM clock_timestamp())::float8 + %(lease)s
    WHERE id = %(worker)s AND state = 'live' AND expires > extract(epoch FROM clock_timestamp())::float8
    RETURNING 1),
rec AS (
    UPDATE voicekit_rows c SET state = o.state, request_id = o.request_id, error_type = o.error_type,
        error = o.error, retryable = o.retryable, updated = extract(epoch FROM clock_timestamp())::float8
    FROM (SELECT e->>0 AS key, e->>1 AS state, e->>2 AS request_id, e->>3 AS error_type, e->>4 AS error,
                 (e->>5)::integer AS retryable FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e) AS o
    WHERE c.campaign = %(campaign)s AND c.key = o.key AND c.holder = %(worker)s AND c.state IN ('sending', 'unknown')
      AND c.key = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e))
    RETURNING 1),
took AS (
    UPDATE voicekit_rows SET state = 'sending', holder = %(worker)s, token = %(token)s,
        attempts = CASE WHEN state = 'pending' THEN attempts + 1 ELSE attempts END,
        updated = extract(epoch FROM clock_timestamp())::float8, sent = extract(epoch FROM clock_timestamp())::float8
    WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) AND (holder = %(worker)s OR holder IS NULL)
      AND (state = 'pending' OR (state = 'sending' AND token = %(token)s))
      AND EXISTS (SELECT 1 FROM renew)
      AND EXISTS (SELECT 1 FROM voicekit_campaigns c WHERE c.id = %(campaign)s AND c.state = 'active')
    RETURNING key)
SELECT key, 'sending' FROM took
UNION ALL
SELECT '', 'lost' WHERE NOT EXISTS (SELECT 1 FROM renew)

-- name: release_unsent
-- Claims whose request never left: pending again, and not an attempt.
UPDATE voicekit_rows SET state = 'pending', attempts = greatest(attempts - 1, 0),
    updated = extract(epoch FROM clock_timestamp())::float8
WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) AND holder = %(worker)s AND state = 'sending'

-- name: mark_interrupted
UPDATE voicekit_rows SET state = 'unknown', error_type = 'Interrupted', error = %(error)s,
    updated = extract(epoch FROM clock_timestamp())::float8
WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) AND holder = %(worker)s AND state = 'sending'

-- name: requeue
-- A failure placed no call: it is not counted as an attempt. An unknown row's call may have been.
UPDATE voicekit_rows r SET state = 'pending', holder = NULL, request_id = NULL, error_type = NULL, error = NULL,
    retryable = 0, attempts = CASE WHEN state = 'failed' THEN greatest(attempts - 1, 0) ELSE attempts END, updated = extract(epoch FROM clock_timestamp())::float8
WHERE campaign = %(campaign)s AND spec IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = r.campaign
                                                    AND s.number = replace(r.number, '+', ''))
  AND (
    (%(unknown)s::integer = 1 AND state = 'unknown')
    OR (%(retryable)s::integer = 1 AND state = 'failed' AND retryable = 1)
    OR (%(failed)s::integer = 1 AND state = 'failed' AND coalesce(error_type, '') <> 'MalformedRow'
        AND (%(classes)s::text[] IS NULL OR error_type = ANY(%(classes)s::text[]))))
RETURNING key

-- name: failed_classes
-- The failed rows that could be dialed again, by the error that failed them.
SELECT coalesce(error_type, ''), count(*) FROM voicekit_rows
WHERE campaign = %(campaign)s AND state = 'failed' AND spec IS NOT NULL
  AND coalesce(error_type, '') <> 'MalformedRow'
GROUP BY 1 ORDER BY 2 DESC, 1

-- name: outcome_targets
-- The rows a batch of outcomes names: by %(named)s ([[campaign, key], ...]) or by request id (in
-- any campaign).
SELECT r.campaign, r.key, r.state, r.number, r.request_id, r.attempts
FROM voicekit_rows r JOIN jsonb_array_elements(%(named)s::jsonb) AS o(e)
    ON r.campaign = o.e->>0 AND r.key = o.e->>1
WHERE r.key = ANY(ARRAY(SELECT e->>1 FROM jsonb_array_elements(%(named)s::jsonb) AS e))
UNION
SELECT r.campaign, r.key, r.state, r.number, r.request_id, r.attempts
FROM voicekit_rows r WHERE r.request_id = ANY(%(request_ids)s::text[])

-- name: campaigns_known
SELECT id FROM voicekit_campaigns WHERE id = ANY(%(campaigns)s::text[])

-- name: outcomes_insert
-- Keep each outcome once (a resent webhook, or one known already, changes nothing); returns the
-- vendor ids that were new. %(outcomes)s: [[vendor_id, campaign, key, answered, request_id,
-- number, time, billed_seconds, rate, hangup_reason, source], ...].
INSERT INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time, billed_seconds, rate,
                               hangup_reason, source, received)
SELECT e->>0, e->>1, e->>2, (e->>3)::integer, e->>4, e->>5, (e->>6)::float8, (e->>7)::integer, e->>8, e->>9,
       e->>10, extract(epoch FROM clock_timestamp())::float8
FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e
WHERE NOT EXISTS (SELECT 1 FROM voicekit_attempts a WHERE a.vendor_id = e->>0)
ON CONFLICT DO NOTHING
RETURNING vendor_id

-- name: outcomes_write
-- Keep each outcome once and mark the rows they name placed, in one statement: what
-- `outcomes_insert` and `rows_mark_placed` do, for the outcomes that were new. Returns the
-- vendor ids that were new. %(outcomes)s: as `outcomes_insert`'s.
WITH ins AS (
    INSERT INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time, billed_seconds,
                                   rate, hangup_reason, source, received)
    SELECT e->>0, e->>1, e->>2, (e->>3)::integer, e->>4, e->>5, (e->>6)::float8, (e->>7)::integer, e->>8, e->>9,
           e->>10, extract(epoch FROM clock_timestamp())::float8
    FROM jsonb_array_elements(%(outcomes)s::jsonb) AS e
    WHERE NOT EXISTS (SELECT 1 FROM voicekit_attempts a WHERE a.vendor_id = e->>0)
    ON CONFLICT DO NOTHING
    RETURNING vendor_id, campaign, key, request_id),
placed AS (
    UPDATE voicekit_rows r SET state = 'placed', request_id = coalesce(r.request_id, ins.request_id),
        error_type = NULL, error = NULL, retryable = 0, updated = extract(epoch FROM clock_timestamp())::float8
    FROM ins
    WHERE ins.key IS NOT NULL AND r.campaign = ins.campaign AND r.key = ins.key AND r.state IN ('unknown', 'failed')
      AND r.key = ANY(ARRAY(SELECT key FROM ins WHERE key IS NOT NULL))
    RETURNING 1)
SELECT vendor_id FROM ins

-- name: outcomes_take
-- Outcomes kept without a row (e.g. a release event) that a reconciliation found to be a row's.
-- %(taken)s: [[vendor_id, campaign, key], ...].
UPDATE voicekit_outcomes o SET campaign = t.campaign, key = t.key
FROM (SELECT e->>0 AS vendor_id, e->>1 AS campaign, e->>2 AS key FROM jsonb_array_elements(%(taken)s::jsonb) AS e) AS t
WHERE o.vendor_id = t.vendor_id AND o.key IS NULL
  AND o.vendor_id = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(taken)s::jsonb) AS e))
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.campaign = t.campaign AND x.key = t.key)

-- name: outcomes_adopt
-- Outcomes kept without a row whose request id a row has recorded since: that row's now (one
-- per row). Returns (campaign, key, request id) of each.
UPDATE voicekit_outcomes o SET campaign = r.campaign, key = r.key
FROM voicekit_rows r
WHERE o.vendor_id IN (
    SELECT DISTINCT ON (r2.campaign, r2.key) o2.vendor_id
    FROM voicekit_outcomes o2 JOIN voicekit_rows r2 ON r2.request_id = o2.request_id
    WHERE o2.key IS NULL AND o2.request_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.campaign = r2.campaign AND x.key = r2.key)
    ORDER BY r2.campaign, r2.key, o2.vendor_id)
  AND r.request_id = o.request_id
RETURNING r.campaign, r.key, o.request_id

-- name: outcomes_waiting
-- One row while an outcome without a row, naming a request id, is kept (adoption may find it a row).
SELECT 1 FROM voicekit_outcomes WHERE key IS NULL AND request_id IS NOT NULL LIMIT 1

-- name: rows_mark_placed
-- The vendor told how these calls ended: whatever a run thought (unknown, a failure), they were
-- placed. A pending row is never moved (an outcome names the call of a row, not a row to
-- dial); a sending row is its run's. %(placed)s: [[campaign, key, request_id], ...].
UPDATE voicekit_rows r SET state = 'placed', request_id = coalesce(r.request_id, o.request_id), error_type = NULL,
    error = NULL, retryable = 0, updated = extract(epoch FROM clock_timestamp())::float8
FROM (SELECT e->>0 AS campaign, e->>1 AS key, e->>2 AS request_id
      FROM jsonb_array_elements(%(placed)s::jsonb) AS e) AS o
WHERE r.campaign = o.campaign AND r.key = o.key AND r.state IN ('unknown', 'failed')
  AND r.key = ANY(ARRAY(SELECT e->>1 FROM jsonb_array_elements(%(placed)s::jsonb) AS e))
RETURNING r.key

-- name: outcomes_of
SELECT vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source, campaign
FROM voicekit_outcomes WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[])

-- name: outcomes_unmatched
SELECT vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source, campaign
FROM voicekit_outcomes WHERE key IS NULL

-- name: outcome_counts
SELECT count(*) FILTER (WHERE o.answered = 1), count(*) FILTER (WHERE o.answered = 0),
       count(*) FILTER (WHERE c.state = 'placed' AND o.vendor_id IS NULL)
FROM voicekit_rows c LEFT JOIN voicekit_outcomes o ON o.campaign = c.campaign AND o.key = c.key
WHERE c.campaign = %(campaign)s

-- name: resolve_placed
-- %(placed)s: [[key, request_id], ...].
UPDATE voicekit_rows r SET state = 'placed', request_id = coalesce(r.request_id, o.request_id), error_type = NULL,
    error = NULL, retryable = 0, updated = extract(epoch FROM clock_timestamp())::float8
FROM (SELECT e->>0 AS key, e->>1 AS request_id FROM jsonb_array_elements(%(placed)s::jsonb) AS e) AS o
WHERE r.campaign = %(campaign)s AND r.key = o.key AND r.state = 'unknown'
  AND r.key = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(placed)s::jsonb) AS e))
RETURNING r.key

-- name: resolve_requeue
-- Never a row the vendor has told about meanwhile: that call was placed. One proved never
-- placed is not counted as an attempt.
UPDATE voicekit_rows r SET state = 'pending', holder = NULL, request_id = NULL, error_type = NULL, error = NULL,
    retryable = 0, attempts = greatest(attempts - 1, 0), updated = extract(epoch FROM clock_timestamp())::float8
WHERE r.campaign = %(campaign)s AND r.key = ANY(%(keys)s::text[]) AND r.state = 'unknown' AND r.spec IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes o WHERE o.campaign = r.campaign AND o.key = r.key)
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = r.campaign
                                                  AND s.number = replace(r.number, '+', ''))
RETURNING r.key

-- name: resolve_note
-- A note leaves `updated` alone: it stays the time the row became unknown (a reconcile's window
-- is measured from it).
-- %(notes)s: [[key, reason], ...].
UPDATE voicekit_rows r SET error_type = 'Unreconciled', error = o.reason
FROM (SELECT e->>0 AS key, e->>1 AS reason FROM jsonb_array_elements(%(notes)s::jsonb) AS e) AS o
WHERE r.campaign = %(campaign)s AND r.key = o.key AND r.state = 'unknown'
  AND r.key = ANY(ARRAY(SELECT e->>0 FROM jsonb_array_elements(%(notes)s::jsonb) AS e))
RETURNING r.key

-- name: counts
SELECT state, count(*) FROM voicekit_rows WHERE campaign = %(campaign)s GROUP BY state

-- name: last_update
SELECT max(updated) FROM voicekit_rows WHERE campaign = %(campaign)s

-- name: workers_of
SELECT id, state = 'live' AND expires > extract(epoch FROM clock_timestamp())::float8
FROM voicekit_workers WHERE campaign = %(campaign)s ORDER BY started, id

-- name: counts_by_worker
SELECT holder, state, count(*) FROM voicekit_rows
WHERE campaign = %(campaign)s AND holder IS NOT NULL GROUP BY holder, state

-- name: entry
SELECT key, row, state, request_id, error_type, error, updated, holder, attempts
FROM voicekit_rows WHERE campaign = %(campaign)s AND key = %(key)s

-- name: entries_page
-- One chunk of the rows in campaign order (row number, then key), after (%(row)s, %(key)s).
SELECT key, row, state, request_id, error_type, error, updated, holder, attempts, coalesce(row, 0)
FROM voicekit_rows
WHERE campaign = %(campaign)s AND (coalesce(row, 0), key) > (%(row)s, %(key)s)
  AND (%(states)s::text[] IS NULL OR state = ANY(%(states)s::text[]))
ORDER BY coalesce(row, 0), key LIMIT %(n)s

-- name: numbers
SELECT key, number FROM voicekit_rows
WHERE campaign = %(campaign)s AND number IS NOT NULL AND key = ANY(%(keys)s::text[])

-- name: sent_times
SELECT key, sent FROM voicekit_rows
WHERE campaign = %(campaign)s AND sent IS NOT NULL AND key = ANY(%(keys)s::text[])

-- name: dialers
-- Every row, of any campaign here, that dials one of %(numbers)s, and its state.
SELECT number, campaign, key, state, sent FROM voicekit_rows WHERE number = ANY(%(numbers)s::text[])

-- name: specs_of
SELECT key, spec FROM voicekit_rows WHERE campaign = %(campaign)s AND spec IS NOT NULL AND key = ANY(%(keys)s::text[])

-- name: defer
-- Rows this worker holds whose calling window is closed: not dialed before their moment, and
-- free for any worker then. %(rows)s: [[key, not_before], ...].
UPDATE voicekit_rows r SET not_before = (o.e->>1)::float8, holder = NULL
FROM jsonb_array_elements(%(rows)s::jsonb) AS o(e)
WHERE r.campaign = %(campaign)s AND r.key = o.e->>0 AND r.state = 'pending'
  AND (r.holder = %(worker)s OR r.holder IS NULL)

-- name: rows_waiting
-- (the campaign's state, pending rows nobody holds that wait for a later moment, the earliest
-- such moment), by %(now)s.
SELECT c.state, count(r.key), min(r.not_before)
FROM voicekit_campaigns c
LEFT JOIN voicekit_rows r ON r.campaign = c.id AND r.state = 'pending' AND r.holder IS NULL
                         AND r.not_before > %(now)s::float8
WHERE c.id = %(campaign)s GROUP BY c.state

-- name: suppress_add
-- %(numbers)s: the numbers (digits) never to call in this campaign; returns those that are new.
INSERT INTO voicekit_suppressed (campaign, number, added)
SELECT %(campaign)s, n, extract(epoch FROM clock_timestamp())::float8 FROM unnest(%(numbers)s::text[]) AS n
ON CONFLICT (campaign, number) DO NOTHING
RETURNING number

-- name: suppress_rows
-- The campaign's pending rows whose number is suppressed (whoever holds them): never dialed.
UPDATE voicekit_rows r SET state = 'suppressed', holder = NULL, updated = extract(epoch FROM clock_timestamp())::float8
WHERE r.campaign = %(campaign)s AND r.state = 'pending'
  AND EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = %(campaign)s
                                                   AND s.number = replace(r.number, '+', ''))
RETURNING r.key

-- name: suppressed_count
SELECT count(*) FROM voicekit_suppressed WHERE campaign = %(campaign)s

-- name: cancel_rows
-- A cancelled campaign's pending rows (whoever holds them): never dialed. Calls in flight finish.
UPDATE voicekit_rows SET state = 'cancelled', holder = NULL, updated = extract(epoch FROM clock_timestamp())::float8
WHERE campaign = %(campaign)s AND state = 'pending'
RETURNING key

-- name: attempts_archive
-- Redials: keep the outcome of each row's last attempt among its earlier attempts, for the rows
-- that may be dialed again (placed, fewer attempts than allowed, not suppressed, the campaign
-- not ended). %(redials)s: [[campaign, key, vendor_id, not_before, max_attempts], ...]. Returns
-- (campaign, key, vendor_id) of those kept.
INSERT INTO voicekit_attempts (campaign, key, attempt, request_id, vendor_id, answered, hangup_reason, time,
                               billed_seconds)
SELECT r.campaign, r.key, r.attempts, coalesce(r.request_id, o.request_id), o.vendor_id, o.answered,
       o.hangup_reason, o.time, o.billed_seconds
FROM jsonb_array_elements(%(redials)s::jsonb) AS d(e)
JOIN voicekit_rows r ON r.campaign = d.e->>0 AND r.key = d.e->>1
JOIN voicekit_outcomes o ON o.vendor_id = d.e->>2 AND o.campaign = r.campaign AND o.key = r.key
JOIN voicekit_campaigns c ON c.id = r.campaign
WHERE r.state = 'placed' AND r.attempts < (d.e->>4)::integer AND c.state IN ('active', 'paused')
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = r.campaign
                                                       AND s.number = replace(r.number, '+', ''))
ON CONFLICT DO NOTHING
RETURNING campaign, key, vendor_id

-- name: outcomes_release
-- The outcomes kept among a row's earlier attempts leave the row's one outcome slot.
DELETE FROM voicekit_outcomes WHERE vendor_id = ANY(%(vendor_ids)s::text[])

-- name: rows_redial
-- Rows to dial again: pending, not before their moment. %(redials)s: [[campaign, key, not_before], ...].
UPDATE voicekit_rows r SET state = 'pending', not_before = (d.e->>2)::float8, holder = NULL, request_id = NULL,
    error_type = NULL, error = NULL, retryable = 0, updated = extract(epoch FROM clock_timestamp())::float8
FROM jsonb_array_elements(%(redials)s::jsonb) AS d(e)
WHERE r.campaign = d.e->>0 AND r.key = d.e->>1 AND r.state = 'placed'

-- name: attempts_of
-- The earlier attempts of the rows among %(keys)s: (key, attempt, request_id, answered, hangup_reason,
-- time).
SELECT key, attempt, request_id, answered, hangup_reason, time FROM voicekit_attempts
WHERE campaign = %(campaign)s AND key = ANY(%(keys)s::text[]) ORDER BY key, attempt

-- name: rows_awaiting
-- Rows placed (or on their way) with attempts left and no outcome yet: a missed call among them
-- is dialed again.
SELECT count(*) FROM voicekit_rows r
WHERE r.campaign = %(campaign)s AND r.state IN ('pending', 'sending', 'placed') AND r.attempts < %(max_attempts)s
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes o WHERE o.campaign = r.campaign AND o.key = r.key)

-- name: redials_due
-- Placed rows with attempts left whose call was not answered (an outcome written while the row
-- was still being recorded, say): (key, attempts, vendor_id, hangup_reason).
SELECT r.key, r.attempts, o.vendor_id, o.hangup_reason
FROM voicekit_rows r JOIN voicekit_outcomes o ON o.campaign = r.campaign AND o.key = r.key
WHERE r.campaign = %(campaign)s AND r.state = 'placed' AND o.answered = 0 AND r.attempts < %(max_attempts)s
