-- StatusD schema v7: notification storms collapsed into digests (notificationPolicy.storm).
--
-- When a notifier gets more than `threshold` pages of a kind within a window, the engine
-- writes the rest as members of one digest row per notifier, kind and window:
--   * the digest row: event 'DIGEST', incident_id and asset_id NULL, digest_key set,
--     next_attempt_at = the end of its window (when it goes out);
--   * each member: the page's usual row (DOWN, REMINDER or RECOVERY with its incident and
--     payload) with the digest's digest_key. A member is never sent alone while its digest is
--     pending; when the digest is sent (or dead) its members are marked with it. A member
--     written after its digest went out is sent alone.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS digest_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS idx_notifications_digest
    ON notifications (channel, digest_key) WHERE event = 'DIGEST';
CREATE INDEX IF NOT EXISTS idx_notifications_digest_members
    ON notifications (channel, digest_key) WHERE digest_key IS NOT NULL AND event <> 'DIGEST';
