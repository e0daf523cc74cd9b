-- Every state column holds one of the states the code's enums know
-- (controller/model/states.h); a row written with any other spelling is a
-- bug, refused by the database instead of read back as garbage later.
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_state_check
  CHECK (state IN ('building', 'awaiting_approval', 'passed', 'failed', 'cancelled'));
ALTER TABLE stage_runs ADD CONSTRAINT stage_runs_state_check
  CHECK (state IN ('queued', 'building', 'passed', 'failed', 'cancelled'));
ALTER TABLE stage_runs ADD CONSTRAINT stage_runs_approval_check
  CHECK (approval IN ('success', 'manual'));
ALTER TABLE job_runs ADD CONSTRAINT job_runs_state_check
  CHECK (state IN ('scheduled', 'assigned', 'running', 'passed', 'failed', 'cancelled', 'lost'));
ALTER TABLE agents ADD CONSTRAINT agents_state_check
  CHECK (state IN ('pending', 'enabled', 'disabled'));
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_cause_check
  CHECK (cause_kind IN ('manual', 'upstream'));

-- The controller loads every unfinished run at start-up.
CREATE INDEX pipeline_runs_active ON pipeline_runs (id)
  WHERE state IN ('building', 'awaiting_approval');
