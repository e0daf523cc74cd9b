-- "Is another run building this stage?" and "which run waits for it next?"
-- are asked on every trigger and every stage end. Through the
-- (pipeline, counter) index they walk a pipeline's whole history; the
-- active stage runs are a handful whatever the history.
CREATE INDEX stage_runs_active ON stage_runs (name) WHERE state IN ('queued', 'building');
