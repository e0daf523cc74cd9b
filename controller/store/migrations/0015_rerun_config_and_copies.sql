-- `gantry stage rerun --with-current-config`: a stage attempt may run under
-- another config revision than its run's (NULL: the run's own).
ALTER TABLE stage_runs ADD COLUMN config_revision BIGINT REFERENCES config_revisions (revision);
-- `gantry stage rerun --failed-jobs`: the attempt runs only the jobs that
-- did not pass in the attempt before it (decided when it starts, which may
-- be after waiting behind another run).
ALTER TABLE stage_runs ADD COLUMN rerun_failed_jobs BOOLEAN NOT NULL DEFAULT false;
-- The jobs that passed before are copied into the new attempt as passed, without running; their console and
-- artifacts are those of the attempt they were copied from. No foreign key:
-- retention deletes a run's jobs in one statement, in any order.
ALTER TABLE job_runs ADD COLUMN copied_from BIGINT;
