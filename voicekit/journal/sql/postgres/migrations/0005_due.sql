-- A reservation reads no waiting row: the free rows' index holds the pending rows with no moment
-- to wait for (not_before), and the waiting ones are found by their moment. A row whose moment
-- has come loses it as the next reservation starts ("undefer"), and is free again.

DROP INDEX voicekit_rows_free;
CREATE INDEX voicekit_rows_free ON voicekit_rows (campaign, row)
    WHERE state = 'pending' AND holder IS NULL AND not_before IS NULL;
CREATE INDEX voicekit_rows_waiting ON voicekit_rows (campaign, not_before)
    WHERE state = 'pending' AND holder IS NULL AND not_before IS NOT NULL;
