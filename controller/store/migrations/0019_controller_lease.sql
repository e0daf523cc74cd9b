-- The leader lease (docs/operations.md, "Two controllers on one database").
-- One row: the controller that may write, until `expires_at` (database
-- time), unless it renews. `epoch` grows by one at every takeover; every
-- write transaction of the leader locks this row FOR SHARE and checks the
-- epoch it took, so a leader that stalled past its lease commits nothing
-- once another controller has taken over.
CREATE TABLE controller_lease (
  id INT PRIMARY KEY CHECK (id = 1),
  epoch BIGINT NOT NULL,
  -- The data dir's controller id (stable across restarts) and this process
  -- ("ID/PID"), which names its database sessions (application_name).
  holder_id TEXT NOT NULL,
  holder_instance TEXT NOT NULL,
  -- Where clients reach the leader (host:port).
  holder_address TEXT NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL,
  renewed_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
