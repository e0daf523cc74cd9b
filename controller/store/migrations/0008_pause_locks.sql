-- Pause and pipeline locks (docs/cli.md, "pipeline pause", "pipeline unlock").
-- paused, pause_reason and paused_by exist since 0001; a pause now also says
-- when. locked_by is the counter of the run holding the pipeline's lock
-- (0: unlocked); which runs take and release it follows lock_behavior
-- (docs/config.md). waiting_* is the newest upstream trigger that arrived
-- while the pipeline was paused or locked: kept, not lost, so the pipeline
-- runs once with it when it is unpaused or unlocked (GoCD's behaviour).
ALTER TABLE pipelines
  ADD COLUMN paused_at TIMESTAMPTZ,
  ADD COLUMN locked_by BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN waiting_upstream_pipeline TEXT NOT NULL DEFAULT '',
  ADD COLUMN waiting_upstream_counter BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN waiting_upstream_stage TEXT NOT NULL DEFAULT '',
  ADD COLUMN waiting_upstream_stage_counter INT NOT NULL DEFAULT 0,
  ADD COLUMN waiting_user TEXT NOT NULL DEFAULT '',
  ADD COLUMN waiting_message TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD CONSTRAINT pipelines_locked_by_check CHECK (locked_by >= 0);
