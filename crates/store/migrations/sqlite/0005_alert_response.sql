-- How fast alerts are handled: when each was first acknowledged and when it was resolved, and
-- whether its resolution called it a false positive. `state_at` moves with every change;
-- these keep the moments the response figures (time to acknowledge, to resolve) measure.

ALTER TABLE alerts ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE alerts ADD COLUMN resolved_at INTEGER;
-- 0 or 1.
ALTER TABLE alerts ADD COLUMN false_positive INTEGER NOT NULL DEFAULT 0;

-- Alerts handled before this migration: their last change is all that is known. A resolved
-- alert counts as acknowledged when it was resolved, as resolving does from now on.
UPDATE alerts SET acknowledged_at = state_at
    WHERE state IN ('acknowledged', 'resolved') AND state_at IS NOT NULL;
UPDATE alerts SET resolved_at = state_at WHERE state = 'resolved' AND state_at IS NOT NULL;

-- The response figures read every alert detected in a window (the last 30 days): covering
-- the columns they read keeps the query off the table, whose rows carry the alert's JSON
-- and, in SQLite, put columns added later behind it.
CREATE INDEX alerts_response ON alerts
    (detected_at, event_time, acknowledged_at, resolved_at, false_positive, rule);
