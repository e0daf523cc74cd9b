-- Agent admission (docs/security.md, "Agent admission"): unique agent names,
-- scoped register keys, and what an agent asked for kept apart from what it
-- was given.

-- Names were not unique before. Every duplicate but the oldest (by
-- created_at, then id) is renamed to NAME-<first 8 of its id>, cut so the
-- result stays a valid name (255 characters), with a counter appended in
-- the unlikely case that name is taken too: the migration cannot fail on
-- the data it finds.
DO $$
DECLARE
  dup RECORD;
  candidate TEXT;
  n INT;
BEGIN
  FOR dup IN
    SELECT id, name FROM (
      SELECT id, name, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS rank
      FROM agents) ranked
    WHERE rank > 1
    ORDER BY name, rank
  LOOP
    candidate := left(dup.name, 246) || '-' || left(dup.id, 8);
    n := 1;
    WHILE EXISTS (SELECT 1 FROM agents WHERE name = candidate) LOOP
      n := n + 1;
      candidate := left(dup.name, 240) || '-' || left(dup.id, 8) || '-' || n;
    END LOOP;
    UPDATE agents SET name = candidate WHERE id = dup.id;
  END LOOP;
END
$$;
CREATE UNIQUE INDEX agents_name_unique ON agents (name);

-- Lists are comma-separated, like resources and environments. `resources`
-- and `environments` stay what is in effect (what matching reads):
--   assigned_* when an admin set them (NULL: not set), else
--   requested_* cut to allowed_* (the register key's scope; '*' = anything).
ALTER TABLE agents ADD COLUMN requested_resources TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN requested_environments TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN allowed_resources TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN allowed_environments TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN assigned_resources TEXT;
ALTER TABLE agents ADD COLUMN assigned_environments TEXT;
-- The key it registered with: 'bootstrap', a key's name, '' = none.
ALTER TABLE agents ADD COLUMN register_key TEXT NOT NULL DEFAULT '';

-- Agents admitted before keep what they have: they were registered with the
-- bootstrap key or approved by an admin. A pending one gets only what an
-- admin assigns.
UPDATE agents SET requested_resources = resources,
                  requested_environments = environments,
                  allowed_resources = CASE WHEN state = 'pending' THEN '' ELSE '*' END,
                  allowed_environments = CASE WHEN state = 'pending' THEN '' ELSE '*' END,
                  register_key = CASE WHEN state = 'pending' THEN '' ELSE 'bootstrap' END;
UPDATE agents SET resources = '', environments = '' WHERE state = 'pending';

CREATE TABLE agent_keys (
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL UNIQUE,
  resources TEXT NOT NULL,
  environments TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  revoked_at TIMESTAMPTZ,
  revoked_by TEXT NOT NULL DEFAULT ''
);
