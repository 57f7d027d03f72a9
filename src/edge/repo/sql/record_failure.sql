-- record_failure (throttle::lockout) as one atomic UPSERT: concurrent failures never overwrite
-- each other's count. In DO UPDATE SET every bare column is the row before the update.
-- Binds: ?1 account key, ?2 now, ?3 window seconds, ?4 threshold (>= 1), ?5 lock seconds (>= 1).
-- Host-tested against the pure function (throttle::lockout tests).
INSERT INTO login_lockouts (account_key, failures, window_start, locked_until, updated_at)
VALUES (?1, 1, ?2, CASE WHEN 1 >= ?4 THEN ?2 + ?5 END, ?2)
ON CONFLICT (account_key) DO UPDATE SET
failures = CASE WHEN locked_until > ?2 THEN failures + 1
  WHEN locked_until IS NOT NULL OR ?2 - window_start >= ?3 THEN 1 ELSE failures + 1 END,
window_start = CASE WHEN locked_until > ?2 THEN window_start
  WHEN locked_until IS NOT NULL OR ?2 - window_start >= ?3 THEN ?2
  WHEN failures + 1 >= ?4 THEN ?2 ELSE window_start END,
locked_until = CASE WHEN locked_until > ?2 THEN locked_until
  WHEN locked_until IS NOT NULL OR ?2 - window_start >= ?3 THEN (CASE WHEN 1 >= ?4 THEN ?2 + ?5 END)
  WHEN failures + 1 >= ?4 THEN ?2 + ?5 ELSE NULL END,
updated_at = ?2
RETURNING failures, window_start, locked_until