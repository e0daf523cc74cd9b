-- "Is another run building this stage?" and "which run waits for it next?"
-- are asked on every trigger and every stage end. Through the
-- (pipeline, counter) index they walked a pipeline's whole history; with
-- the pipeline on the stage run, a partial index holds only the active
-- stage runs, keyed so that one busy pipeline's churn does not slow
-- another's lookups.
ALTER TABLE stage_runs ADD COLUMN pipeline TEXT;
UPDATE stage_runs s SET pipeline = p.pipeline FROM pipeline_runs p WHERE p.id = s.run_id;
ALTER TABLE stage_runs ALTER COLUMN pipeline SET NOT NULL;
CREATE INDEX stage_runs_active ON stage_runs (pipeline, name)
  WHERE state IN ('queued', 'building');

-- A `run_instances: all` instance belongs to one agent: the pin survives a
-- controller restart and a reschedule after the agent is lost.
ALTER TABLE job_runs ADD COLUMN pinned_agent TEXT NOT NULL DEFAULT '';
