-- Retention (controller/retention/): when the artifacts and console log of
-- a run were removed. Set when the run is picked, before its files go, so
-- an operator asking for them meanwhile is told why they are missing.
ALTER TABLE pipeline_runs ADD COLUMN files_removed_at TIMESTAMPTZ;
-- Each pass looks only at runs whose files are still kept.
CREATE INDEX pipeline_runs_files_kept ON pipeline_runs (id) WHERE files_removed_at IS NULL;

-- Runs picked whose rows are not all deleted yet: deletion goes in small
-- batches, and a controller stopped half-way finishes them after a restart.
CREATE TABLE retention_queue (
  run_id BIGINT PRIMARY KEY REFERENCES pipeline_runs(id)
);

-- A blob is deleted only when no artifact row names its digest any more.
CREATE INDEX artifacts_by_sha256 ON artifacts (sha256);
