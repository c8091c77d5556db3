-- StatusD schema v6: why an asset is in its state, in one line.

-- Written with assets.state by the alert engine (e.g. "DOWN from 1 of 3 locations
-- (eu-west); 2 have no live agent, quorum needs 2"): valid UTF-8, one line, at most 300
-- bytes. '' for rows written before this migration, until the engine next writes the state.
-- The state may now also be 'UNCONFIRMED': some location sees the asset down, but fewer
-- locations are live than its quorum needs (no incident opens or closes).
ALTER TABLE assets ADD COLUMN IF NOT EXISTS state_reason TEXT NOT NULL DEFAULT '';
