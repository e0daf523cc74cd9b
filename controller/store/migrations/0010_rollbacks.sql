-- Typed rollbacks (`gantry rollback ENV`, docs/rollback.md). A rollback is
-- a re-run of an earlier run's deploy stage: the row names that stage
-- attempt, so history shows it as a rollback, with who, why and what it
-- replaced.
CREATE TABLE rollbacks (
  id BIGSERIAL PRIMARY KEY,
  environment TEXT NOT NULL,
  stage_run_id BIGINT NOT NULL UNIQUE REFERENCES stage_runs(id),
  from_run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  to_run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  requested_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);

-- The version a rollback took out of an environment: the run that had
-- deployed it. While a mark holds (cleared_at NULL), no upstream stage
-- triggers a pipeline of the environment with that run's upstream again.
-- Marks are never deleted; clearing one records who and why.
CREATE TABLE bad_versions (
  id BIGSERIAL PRIMARY KEY,
  environment TEXT NOT NULL,
  run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  marked_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  marked_at TIMESTAMPTZ NOT NULL,
  cleared_by TEXT,
  cleared_at TIMESTAMPTZ,
  clear_reason TEXT
);
CREATE UNIQUE INDEX bad_versions_open ON bad_versions (environment, run_id)
  WHERE cleared_at IS NULL;

-- The runs that took a run as a material (`pipeline vsm`'s downstream half,
-- every level) are found by their upstream run.
CREATE INDEX run_materials_upstream ON run_materials (upstream_pipeline, upstream_counter)
  WHERE upstream_pipeline <> '';
