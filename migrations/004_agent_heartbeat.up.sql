-- StatusD schema v4: each agent's heartbeat period, from its Hello.
-- The engine waits 3 of these (at least 3 of the collector's) plus the agents' reconnect
-- backoff after a restart before it declares an agent that was up, and is not heard from,
-- down. NULL: not known (an agent seen only before this migration).
ALTER TABLE agents ADD COLUMN IF NOT EXISTS heartbeat_ms INTEGER;
