-- `gantry stage rerun --and-following`: the run goes on past the re-run
-- stage, to its later stages as their approvals say. The flag belongs to the
-- run while that re-run's chain lasts; a plain re-run clears it.
ALTER TABLE pipeline_runs ADD COLUMN rerun_follows BOOLEAN NOT NULL DEFAULT false;
