-- The journal's statements on SQLite, by name; postgres/queries.sql has the same names with the
-- same parameters and results. Each `-- name:` line starts one statement (or, where SQLite
-- needs several for what PostgreSQL does in one, statements ending with `;`, run in order as
-- one, in one transaction; the last one's rows are the result). A list of values and
-- a list of records both arrive as JSON text (`json_each(:keys)`; records are arrays:
-- `value ->> 0`). Times are epoch seconds: (julianday('now') - 2440587.5) * 86400.0.
-- One process runs a journal at a time (a lock on its file), so nothing here waits for a lease.

-- name: inspect
-- (ledger, legacy, other): the migration ledger exists; a 0.1.0 journal is here; anything else.
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'voicekit_migrations'),
       EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'),
       EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!')

-- name: lock_setup
-- Set-up is serialised by the journal's file lock and the writer's immediate transaction.
SELECT 1

-- name: ledger_create
CREATE TABLE IF NOT EXISTS voicekit_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)

-- name: ledger_version
SELECT coalesce(max(version), 0) FROM voicekit_migrations

-- name: ledger_add
INSERT INTO voicekit_migrations (version, name, applied)
VALUES (:version, :name, (julianday('now') - 2440587.5) * 86400.0)

-- name: legacy_meta
SELECT name, value FROM meta

-- name: legacy_live_workers
-- 0.1.0 kept no workers on SQLite: the file lock held by this writer says none is running.
SELECT 0

-- name: v1_columns
-- The columns of a 0.1.0 journal's rows table (an early 0.1.0 lacked some).
SELECT name FROM pragma_table_info('calls')

-- name: v1_add_sent
ALTER TABLE calls ADD COLUMN sent REAL

-- name: v1_add_number
ALTER TABLE calls ADD COLUMN number TEXT

-- name: rows_without_number
SELECT key, spec FROM voicekit_rows
WHERE campaign = :campaign AND number IS NULL AND spec IS NOT NULL ORDER BY key LIMIT :n

-- name: rows_set_number
-- :numbers: [[key, number], ...]
UPDATE voicekit_rows SET number = o.value ->> 1
FROM json_each(:numbers) AS o
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = o.value ->> 0

-- name: campaign_by_name
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns WHERE name = :name

-- name: campaign_by_id
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns WHERE id = :campaign

-- name: campaigns_all
SELECT id, name, identity, state, loaded, created FROM voicekit_campaigns ORDER BY created, name

-- name: campaign_insert
INSERT INTO voicekit_campaigns (id, name, identity, state, loaded, created)
VALUES (:campaign, :name, :identity, 'active', 0, (julianday('now') - 2440587.5) * 86400.0)

-- name: campaign_set_state
UPDATE voicekit_campaigns SET state = :state WHERE id = :campaign

-- name: campaign_loaded
SELECT loaded FROM voicekit_campaigns WHERE id = :campaign

-- name: campaign_mark_loaded
UPDATE voicekit_campaigns SET loaded = 1 WHERE id = :campaign

-- name: drop_outcomes
DELETE FROM voicekit_outcomes WHERE campaign = :campaign

-- name: drop_workers
DELETE FROM voicekit_workers WHERE campaign = :campaign

-- name: drop_attempts
DELETE FROM voicekit_attempts WHERE campaign = :campaign

-- name: drop_suppressed
DELETE FROM voicekit_suppressed WHERE campaign = :campaign

-- name: drop_rows
DELETE FROM voicekit_rows WHERE campaign = :campaign

-- name: drop_campaign
DELETE FROM voicekit_campaigns WHERE id = :campaign

-- name: counts_by_campaign
SELECT campaign, state, count(*) FROM voicekit_rows GROUP BY campaign, state

-- name: live_workers_by_campaign
SELECT campaign, count(*) FROM voicekit_workers
WHERE state = 'live' AND expires > (julianday('now') - 2440587.5) * 86400.0 GROUP BY campaign

-- name: worker_join
INSERT INTO voicekit_workers (id, campaign, host, pid, started, expires, state)
VALUES (:worker, :campaign, :host, :pid, (julianday('now') - 2440587.5) * 86400.0,
        (julianday('now') - 2440587.5) * 86400.0 + :lease, 'live')

-- name: worker_renew
-- The worker holding the file lock is the only one: its lease never lapses.
UPDATE voicekit_workers SET expires = (julianday('now') - 2440587.5) * 86400.0 + :lease
WHERE id = :worker AND state = 'live'
RETURNING 1

-- name: worker_done
UPDATE voicekit_workers SET state = 'done' WHERE id = :worker AND state = 'live'

-- name: workers_expire
-- The campaign's workers that can no longer be running: every other one (this one holds the lock).
UPDATE voicekit_workers SET state = 'expired' WHERE campaign = :campaign AND state = 'live' AND id <> :worker

-- name: reap
-- The rows of workers that are gone: sending -> unknown (they may have been dialed), reserved
-- pending rows free again. A sending row without a holder was left by voicekit 0.1.0.
UPDATE voicekit_rows SET
    error_type = CASE WHEN state = 'sending' THEN :error_type ELSE error_type END,
    error = CASE WHEN state = 'sending' THEN :error ELSE error END,
    holder = CASE WHEN state = 'pending' THEN NULL ELSE holder END,
    state = CASE WHEN state = 'sending' THEN 'unknown' ELSE state END,
    updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND (
    (state = 'sending' AND holder IS NULL)
    OR (state IN ('pending', 'sending') AND holder IN (
        SELECT id FROM voicekit_workers WHERE campaign = :campaign AND state <> 'live')))
RETURNING state

-- name: release_held
UPDATE voicekit_rows SET holder = NULL WHERE campaign = :campaign AND holder = :worker AND state = 'pending'

-- name: load_stage_create
CREATE TEMP TABLE voicekit_load (key TEXT, row INTEGER, spec TEXT, number TEXT, error TEXT, zones TEXT)

-- name: load_stage_put
INSERT INTO voicekit_load (key, row, spec, number, error, zones) VALUES (?, ?, ?, ?, ?, ?)

-- name: load_stage_drop
DROP TABLE temp.voicekit_load

-- name: load_rows
-- Every key once, pending (or failed with its problem); a row already there keeps its state and
-- gains its spec if it had none (a journal made by 0.1.0's SQLite store); a suppressed number's
-- row is suppressed. The bare columns of an aggregate with min() come from the row holding
-- that minimum (SQLite guarantees it).
INSERT INTO voicekit_rows AS r (campaign, key, row, state, spec, number, error_type, error, updated, zones)
SELECT :campaign, key, min(row),
       CASE WHEN error IS NOT NULL THEN 'failed'
            WHEN EXISTS (SELECT 1 FROM voicekit_suppressed s
                         WHERE s.campaign = :campaign AND s.number = replace(voicekit_load.number, '+', ''))
            THEN 'suppressed' ELSE 'pending' END,
       spec, number,
       CASE WHEN error IS NULL THEN NULL ELSE 'MalformedRow' END, error, (julianday('now') - 2440587.5) * 86400.0, zones
FROM voicekit_load WHERE true GROUP BY key
ON CONFLICT (campaign, key) DO UPDATE SET spec = excluded.spec, number = excluded.number, zones = excluded.zones
WHERE r.spec IS NULL AND excluded.spec IS NOT NULL AND r.row = excluded.row

-- name: load_duplicates
-- A row that repeats an earlier row's key: failed, under the key "<key>@row<N>".
INSERT INTO voicekit_rows (campaign, key, row, state, error_type, error, updated)
SELECT :campaign, l.key || '@row' || l.row, l.row, 'failed', 'MalformedRow',
       'duplicate key ' || quote(l.key) || ' (first at row ' || r.row || ')',
       (julianday('now') - 2440587.5) * 86400.0
FROM voicekit_load l JOIN voicekit_rows r ON r.campaign = :campaign AND r.key = l.key
WHERE r.row <> l.row
ON CONFLICT (campaign, key) DO NOTHING
RETURNING key, row, error

-- name: undefer
-- The free rows whose moment (not_before) has come at :now lose it, the longest waiting first, at
-- most 1000 a time: the free rows' index holds them again (see reserve).
UPDATE voicekit_rows SET not_before = NULL
WHERE rowid IN (
    SELECT rowid FROM voicekit_rows
    WHERE campaign = :campaign AND state = 'pending' AND holder IS NULL AND not_before IS NOT NULL
      AND not_before <= :now
    ORDER BY not_before LIMIT 1000)

-- name: reserve
-- The next free pending rows (none while the campaign is not active), held for this worker. A row
-- waiting for its moment has one (not_before): it is not read here, through the free rows'
-- index, until undefer takes it away.
UPDATE voicekit_rows SET holder = :worker
WHERE rowid IN (
    SELECT rowid FROM voicekit_rows
    WHERE campaign = :campaign AND state = 'pending' AND holder IS NULL AND not_before IS NULL
      AND EXISTS (SELECT 1 FROM voicekit_campaigns c WHERE c.id = :campaign AND c.state = 'active')
    ORDER BY row LIMIT :n)
RETURNING row, key, spec, zones

-- name: rows_left
-- (pending rows nobody holds, pending rows other workers hold, rows other workers are sending),
-- from one snapshot.
SELECT count(*) FILTER (WHERE state = 'pending' AND holder IS NULL),
       count(*) FILTER (WHERE state = 'pending' AND holder IS NOT NULL AND holder <> :worker),
       count(*) FILTER (WHERE state = 'sending' AND holder IS NOT NULL AND holder <> :worker)
FROM voicekit_rows WHERE campaign = :campaign AND state IN ('pending', 'sending')

-- name: pending
-- The keys among :keys this worker may claim: pending and free or held by it (taken for it now).
UPDATE voicekit_rows SET holder = :worker
WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys)) AND state = 'pending'
  AND (holder IS NULL OR holder = :worker) AND coalesce(not_before, 0) <= :now
RETURNING key, zones

-- name: record
-- The outcomes of sent keys: :outcomes is [[key, state, request_id, error_type, error,
-- retryable], ...].
UPDATE voicekit_rows SET state = o.value ->> 1, request_id = o.value ->> 2, error_type = o.value ->> 3,
    error = o.value ->> 4, retryable = o.value ->> 5, updated = (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:outcomes) AS o
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = o.value ->> 0 AND voicekit_rows.holder = :worker
  AND voicekit_rows.state IN ('sending', 'unknown')

-- name: claim
-- One statement: write the outcomes ready (as `record`) and mark the pending :keys that are
-- free or this worker's sending, and this worker's (a retry after a lost commit finds its keys
-- by :token). Returns (key, 'sending') per
-- key claimed, (key, state) per outcome written; never ('', 'lost'): no lease lapses here. Nothing
-- is claimed while the campaign is not active (paused, cancelled).
UPDATE voicekit_rows SET state = i.state, request_id = i.request_id, error_type = i.error_type, error = i.error,
    retryable = i.retryable,
    holder = :worker,
    attempts = CASE WHEN i.state = 'sending' AND voicekit_rows.state = 'pending' THEN voicekit_rows.attempts + 1
                    ELSE voicekit_rows.attempts END,
    token = CASE WHEN i.state = 'sending' THEN :token ELSE voicekit_rows.token END,
    sent = CASE WHEN i.state = 'sending' THEN (julianday('now') - 2440587.5) * 86400.0 ELSE voicekit_rows.sent END,
    updated = (julianday('now') - 2440587.5) * 86400.0
FROM (
    SELECT value ->> 0 AS key, value ->> 1 AS state, value ->> 2 AS request_id, value ->> 3 AS error_type,
           value ->> 4 AS error, value ->> 5 AS retryable
    FROM json_each(:outcomes)
    UNION ALL
    SELECT value, 'sending', NULL, NULL, NULL, 0 FROM json_each(:keys)) AS i
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = i.key
  AND CASE WHEN i.state = 'sending'
           THEN (voicekit_rows.holder = :worker OR voicekit_rows.holder IS NULL)
                AND (voicekit_rows.state = 'pending' OR (voicekit_rows.state = 'sending' AND voicekit_rows.token = :token))
                AND EXISTS (SELECT 1 FROM voicekit_campaigns c WHERE c.id = :campaign AND c.state = 'active')
           ELSE voicekit_rows.holder = :worker AND voicekit_rows.state IN ('sending', 'unknown') END
RETURNING voicekit_rows.key, voicekit_rows.state

-- name: release_unsent
-- Claims whose request never left: pending again, and not an attempt.
UPDATE voicekit_rows SET state = 'pending', attempts = max(attempts - 1, 0),
    updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys)) AND holder = :worker AND state = 'sending'

-- name: mark_interrupted
UPDATE voicekit_rows SET state = 'unknown', error_type = 'Interrupted', error = :error,
    updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys)) AND holder = :worker AND state = 'sending'

-- name: requeue
-- A failure placed no call: it is not counted as an attempt. An unknown row's call may have been.
UPDATE voicekit_rows SET state = 'pending', holder = NULL, request_id = NULL, error_type = NULL, error = NULL,
    retryable = 0, attempts = CASE WHEN state = 'failed' THEN max(attempts - 1, 0) ELSE attempts END, updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND spec IS NOT NULL AND (
    (:unknown = 1 AND state = 'unknown')
    OR (:retryable = 1 AND state = 'failed' AND retryable = 1)
    OR (:failed = 1 AND state = 'failed' AND coalesce(error_type, '') <> 'MalformedRow'
        AND (:classes IS NULL OR error_type IN (SELECT value FROM json_each(:classes)))))
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = voicekit_rows.campaign
                                                          AND s.number = replace(voicekit_rows.number, '+', ''))
RETURNING key

-- name: failed_classes
-- The failed rows that could be dialed again, by the error that failed them.
SELECT coalesce(error_type, ''), count(*) FROM voicekit_rows
WHERE campaign = :campaign AND state = 'failed' AND spec IS NOT NULL AND coalesce(error_type, '') <> 'MalformedRow'
GROUP BY 1 ORDER BY 2 DESC, 1

-- name: outcome_targets
-- The rows a batch of outcomes names: by :named ([[campaign, key], ...]) or by request id (in
-- any campaign).
SELECT r.campaign, r.key, r.state, r.number, r.request_id, r.attempts
FROM voicekit_rows r JOIN json_each(:named) AS o ON r.campaign = o.value ->> 0 AND r.key = o.value ->> 1
UNION
SELECT r.campaign, r.key, r.state, r.number, r.request_id, r.attempts
FROM voicekit_rows r WHERE r.request_id IN (SELECT value FROM json_each(:request_ids))

-- name: campaigns_known
SELECT id FROM voicekit_campaigns WHERE id IN (SELECT value FROM json_each(:campaigns))

-- name: outcomes_insert
-- Keep each outcome once (a resent webhook, or one known already, changes nothing); returns the
-- vendor ids that were new (an earlier attempt's outcome, kept in voicekit_attempts, is not).
-- :outcomes: [[vendor_id, campaign, key, answered, request_id, number, time, billed_seconds, rate,
-- hangup_reason, source], ...].
INSERT OR IGNORE INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time,
                                         billed_seconds, rate, hangup_reason, source, received)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7,
       value ->> 8, value ->> 9, value ->> 10, (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:outcomes) WHERE NOT EXISTS (SELECT 1 FROM voicekit_attempts a WHERE a.vendor_id = value ->> 0)
RETURNING vendor_id

-- name: outcomes_write
-- Keep each outcome once and mark the rows they name placed: what `outcomes_insert` and
-- `rows_mark_placed` do, for the outcomes that are new. Two statements, run as one (SQLite has
-- no data-modifying WITH): the rows first, for outcomes not kept yet. Returns the vendor ids
-- that were new. :outcomes: as `outcomes_insert`'s.
UPDATE voicekit_rows SET state = 'placed', request_id = coalesce(voicekit_rows.request_id, o.value ->> 4),
    error_type = NULL, error = NULL, retryable = 0, updated = (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:outcomes) AS o
WHERE o.value ->> 2 IS NOT NULL AND voicekit_rows.campaign = o.value ->> 1 AND voicekit_rows.key = o.value ->> 2
  AND voicekit_rows.state IN ('unknown', 'failed')
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.vendor_id = o.value ->> 0)
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.campaign = o.value ->> 1 AND x.key = o.value ->> 2)
  AND NOT EXISTS (SELECT 1 FROM voicekit_attempts a WHERE a.vendor_id = o.value ->> 0);
INSERT OR IGNORE INTO voicekit_outcomes (vendor_id, campaign, key, answered, request_id, number, time,
                                         billed_seconds, rate, hangup_reason, source, received)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7,
       value ->> 8, value ->> 9, value ->> 10, (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:outcomes) WHERE NOT EXISTS (SELECT 1 FROM voicekit_attempts a WHERE a.vendor_id = value ->> 0)
RETURNING vendor_id

-- name: outcomes_take
-- Outcomes kept without a row (e.g. a release event) that a reconciliation found to be a row's.
-- :taken: [[vendor_id, campaign, key], ...].
UPDATE OR IGNORE voicekit_outcomes SET campaign = t.value ->> 1, key = t.value ->> 2
FROM json_each(:taken) AS t
WHERE voicekit_outcomes.vendor_id = t.value ->> 0 AND voicekit_outcomes.key IS NULL

-- name: outcomes_adopt
-- Outcomes kept without a row whose request id a row has recorded since: that row's now (one
-- per row: a second one for the same row is ignored). Returns (campaign, key, request id).
UPDATE OR IGNORE voicekit_outcomes SET campaign = r.campaign, key = r.key
FROM voicekit_rows r
WHERE voicekit_outcomes.key IS NULL AND voicekit_outcomes.request_id IS NOT NULL
  AND r.request_id = voicekit_outcomes.request_id
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.campaign = r.campaign AND x.key = r.key)
RETURNING campaign, key, request_id

-- name: outcomes_waiting
-- One row while an outcome without a row, naming a request id, is kept (adoption may find it a row).
SELECT 1 FROM voicekit_outcomes WHERE key IS NULL AND request_id IS NOT NULL LIMIT 1

-- name: rows_mark_placed
-- The vendor told how these calls ended: whatever a run thought (unknown, a failure), they were
-- placed. A pending row is never moved (an outcome names the call of a row, not a row to
-- dial); a sending row is its run's. :placed: [[campaign, key, request_id], ...].
UPDATE voicekit_rows SET state = 'placed', request_id = coalesce(voicekit_rows.request_id, o.value ->> 2),
    error_type = NULL, error = NULL, retryable = 0, updated = (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:placed) AS o
WHERE voicekit_rows.campaign = o.value ->> 0 AND voicekit_rows.key = o.value ->> 1
  AND voicekit_rows.state IN ('unknown', 'failed')
RETURNING voicekit_rows.key

-- name: outcomes_of
SELECT vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source, campaign
FROM voicekit_outcomes WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys))

-- name: outcomes_unmatched
SELECT vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source, campaign
FROM voicekit_outcomes WHERE key IS NULL

-- name: outcome_counts
SELECT count(*) FILTER (WHERE o.answered = 1), count(*) FILTER (WHERE o.answered = 0),
       count(*) FILTER (WHERE c.state = 'placed' AND o.vendor_id IS NULL)
FROM voicekit_rows c LEFT JOIN voicekit_outcomes o ON o.campaign = c.campaign AND o.key = c.key
WHERE c.campaign = :campaign

-- name: resolve_placed
-- :placed: [[key, request_id], ...].
UPDATE voicekit_rows SET state = 'placed', request_id = coalesce(voicekit_rows.request_id, o.value ->> 1),
    error_type = NULL, error = NULL, retryable = 0, updated = (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:placed) AS o
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = o.value ->> 0 AND voicekit_rows.state = 'unknown'
RETURNING voicekit_rows.key

-- name: resolve_requeue
-- Never a row the vendor has told about meanwhile: that call was placed. One proved never
-- placed is not counted as an attempt.
UPDATE voicekit_rows SET state = 'pending', holder = NULL, request_id = NULL, error_type = NULL, error = NULL,
    retryable = 0, attempts = max(attempts - 1, 0), updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys)) AND state = 'unknown'
  AND spec IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes o WHERE o.campaign = voicekit_rows.campaign
                                                       AND o.key = voicekit_rows.key)
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = voicekit_rows.campaign
                                                          AND s.number = replace(voicekit_rows.number, '+', ''))
RETURNING key

-- name: resolve_note
-- A note leaves `updated` alone: it stays the time the row became unknown (a reconcile's window
-- is measured from it).
-- :notes: [[key, reason], ...].
UPDATE voicekit_rows SET error_type = 'Unreconciled', error = o.value ->> 1
FROM json_each(:notes) AS o
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = o.value ->> 0 AND voicekit_rows.state = 'unknown'
RETURNING voicekit_rows.key

-- name: counts
SELECT state, count(*) FROM voicekit_rows WHERE campaign = :campaign GROUP BY state

-- name: last_update
SELECT max(updated) FROM voicekit_rows WHERE campaign = :campaign

-- name: workers_of
SELECT id, state = 'live' AND expires > (julianday('now') - 2440587.5) * 86400.0
FROM voicekit_workers WHERE campaign = :campaign ORDER BY started, id

-- name: counts_by_worker
SELECT holder, state, count(*) FROM voicekit_rows
WHERE campaign = :campaign AND holder IS NOT NULL GROUP BY holder, state

-- name: entry
SELECT key, row, state, request_id, error_type, error, updated, holder, attempts
FROM voicekit_rows WHERE campaign = :campaign AND key = :key

-- name: entries_page
-- One chunk of the rows in campaign order (row number, then key), after (:row, :key).
SELECT key, row, state, request_id, error_type, error, updated, holder, attempts, coalesce(row, 0)
FROM voicekit_rows
WHERE campaign = :campaign AND (coalesce(row, 0), key) > (:row, :key)
  AND (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
ORDER BY coalesce(row, 0), key LIMIT :n

-- name: numbers
SELECT key, number FROM voicekit_rows
WHERE campaign = :campaign AND number IS NOT NULL AND key IN (SELECT value FROM json_each(:keys))

-- name: sent_times
SELECT key, sent FROM voicekit_rows
WHERE campaign = :campaign AND sent IS NOT NULL AND key IN (SELECT value FROM json_each(:keys))

-- name: dialers
-- Every row, of any campaign here, that dials one of :numbers, and its state.
SELECT number, campaign, key, state, sent FROM voicekit_rows WHERE number IN (SELECT value FROM json_each(:numbers))

-- name: specs_of
SELECT key, spec FROM voicekit_rows
WHERE campaign = :campaign AND spec IS NOT NULL AND key IN (SELECT value FROM json_each(:keys))

-- name: defer
-- Rows this worker holds whose calling window is closed: not dialed before their moment, and
-- free for any worker then. :rows: [[key, not_before], ...].
UPDATE voicekit_rows SET not_before = o.value ->> 1, holder = NULL
FROM json_each(:rows) AS o
WHERE voicekit_rows.campaign = :campaign AND voicekit_rows.key = o.value ->> 0 AND voicekit_rows.state = 'pending'
  AND (voicekit_rows.holder = :worker OR voicekit_rows.holder IS NULL)

-- name: rows_waiting
-- (the campaign's state, pending rows nobody holds that wait for a later moment, the earliest
-- such moment), by :now.
SELECT c.state,
       (SELECT count(*) FROM voicekit_rows r
        WHERE r.campaign = c.id AND r.state = 'pending' AND r.holder IS NULL AND r.not_before > :now),
       (SELECT min(r.not_before) FROM voicekit_rows r
        WHERE r.campaign = c.id AND r.state = 'pending' AND r.holder IS NULL AND r.not_before > :now)
FROM voicekit_campaigns c WHERE c.id = :campaign

-- name: suppress_add
-- :numbers: the numbers (digits) never to call in this campaign; returns those that are new.
INSERT INTO voicekit_suppressed (campaign, number, added)
SELECT :campaign, value, (julianday('now') - 2440587.5) * 86400.0 FROM json_each(:numbers) WHERE true
ON CONFLICT (campaign, number) DO NOTHING
RETURNING number

-- name: suppress_rows
-- The campaign's pending rows whose number is suppressed (whoever holds them): never dialed.
UPDATE voicekit_rows SET state = 'suppressed', holder = NULL, updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND state = 'pending'
  AND EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = :campaign
                                                   AND s.number = replace(voicekit_rows.number, '+', ''))
RETURNING key

-- name: suppressed_count
SELECT count(*) FROM voicekit_suppressed WHERE campaign = :campaign

-- name: cancel_rows
-- A cancelled campaign's pending rows (whoever holds them): never dialed. Calls in flight finish.
UPDATE voicekit_rows SET state = 'cancelled', holder = NULL, updated = (julianday('now') - 2440587.5) * 86400.0
WHERE campaign = :campaign AND state = 'pending'
RETURNING key

-- name: attempts_archive
-- Redials: keep the outcome of each row's last attempt among its earlier attempts, for the rows
-- that may be dialed again (placed, fewer attempts than allowed, not suppressed, the campaign
-- not ended). :redials: [[campaign, key, vendor_id, not_before, max_attempts], ...]. Returns
-- (campaign, key, vendor_id) of those kept.
INSERT OR IGNORE INTO voicekit_attempts (campaign, key, attempt, request_id, vendor_id, answered, hangup_reason,
                                         time, billed_seconds)
SELECT r.campaign, r.key, r.attempts, coalesce(r.request_id, o.request_id), o.vendor_id, o.answered,
       o.hangup_reason, o.time, o.billed_seconds
FROM json_each(:redials) AS d
JOIN voicekit_rows r ON r.campaign = d.value ->> 0 AND r.key = d.value ->> 1
JOIN voicekit_outcomes o ON o.vendor_id = d.value ->> 2 AND o.campaign = r.campaign AND o.key = r.key
JOIN voicekit_campaigns c ON c.id = r.campaign
WHERE r.state = 'placed' AND r.attempts < d.value ->> 4 AND c.state IN ('active', 'paused')
  AND NOT EXISTS (SELECT 1 FROM voicekit_suppressed s WHERE s.campaign = r.campaign
                                                       AND s.number = replace(r.number, '+', ''))
RETURNING campaign, key, vendor_id

-- name: outcomes_release
-- The outcomes kept among a row's earlier attempts leave the row's one outcome slot.
DELETE FROM voicekit_outcomes WHERE vendor_id IN (SELECT value FROM json_each(:vendor_ids))

-- name: rows_redial
-- Rows to dial again: pending, not before their moment. :redials: [[campaign, key, not_before], ...].
UPDATE voicekit_rows SET state = 'pending', not_before = d.value ->> 2, holder = NULL, request_id = NULL,
    error_type = NULL, error = NULL, retryable = 0, updated = (julianday('now') - 2440587.5) * 86400.0
FROM json_each(:redials) AS d
WHERE voicekit_rows.campaign = d.value ->> 0 AND voicekit_rows.key = d.value ->> 1 AND voicekit_rows.state = 'placed'

-- name: attempts_of
-- The earlier attempts of the rows among :keys: (key, attempt, request_id, answered, hangup_reason,
-- time).
SELECT key, attempt, request_id, answered, hangup_reason, time FROM voicekit_attempts
WHERE campaign = :campaign AND key IN (SELECT value FROM json_each(:keys)) ORDER BY key, attempt

-- name: rows_awaiting
-- Rows placed (or on their way) with attempts left and no outcome yet: a missed call among them
-- is dialed again.
SELECT count(*) FROM voicekit_rows r
WHERE r.campaign = :campaign AND r.state IN ('pending', 'sending', 'placed') AND r.attempts < :max_attempts
  AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes o WHERE o.campaign = r.campaign AND o.key = r.key)

-- name: redials_due
-- Placed rows with attempts left whose call was not answered (an outcome written while the row
-- was still being recorded, say): (key, attempts, vendor_id, hangup_reason).
SELECT r.key, r.attempts, o.vendor_id, o.hangup_reason
FROM voicekit_rows r JOIN voicekit_outcomes o ON o.campaign = r.campaign AND o.key = r.key
WHERE r.campaign = :campaign AND r.state = 'placed' AND o.answered = 0 AND r.attempts < :max_attempts
