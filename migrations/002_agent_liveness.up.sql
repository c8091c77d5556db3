-- StatusD schema v2: agent liveness notifications and agent rows in the outbox.

-- 'down' once an AGENT_DOWN notification was queued for the agent, back to 'up' when its
-- AGENT_UP was queued. Persisted so that a collector restart (every agent reconnects)
-- neither re-sends AGENT_DOWN nor sends an AGENT_UP that has no AGENT_DOWN before it.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS liveness TEXT NOT NULL DEFAULT 'up';
-- when the agent was last heard before it was declared down (NULL while up)
ALTER TABLE agents ADD COLUMN IF NOT EXISTS down_since TIMESTAMPTZ;

-- AGENT_DOWN / AGENT_UP outbox rows name their agent (asset_id and incident_id are NULL);
-- the notifier sends an AGENT_UP only after the agent's AGENT_DOWN on the same channel.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS agent_id TEXT;
CREATE INDEX IF NOT EXISTS idx_notifications_agent ON notifications (agent_id, channel)
    WHERE agent_id IS NOT NULL;
