-- GoCD's pipeline timers (docs/config.md, "timer"). One row per pipeline
-- whose config has a timer: the spec the row counts for, and the last tick
-- taken into account (fired, or the moment the timer was first seen). At
-- start-up a tick of the same spec missed since then fires once.
CREATE TABLE pipeline_timers (
  pipeline TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  last_tick_at TIMESTAMPTZ NOT NULL
);

-- A run a timer triggered has the cause "timer".
ALTER TABLE pipeline_runs DROP CONSTRAINT pipeline_runs_cause_check;
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_cause_check
  CHECK (cause_kind IN ('manual', 'upstream', 'material', 'timer'));
