-- Who opened a manual gate, when, and why (`gantry stage approve --comment`).
-- One row per approval rather than columns on stage_runs, so that a gate
-- needing several approvers can be added without another migration.
-- stage_runs.approved_by stays: it names who started the stage (the
-- approver, or the person who triggered the run).
CREATE TABLE stage_approvals (
  id BIGSERIAL PRIMARY KEY,
  stage_run_id BIGINT NOT NULL REFERENCES stage_runs(id),
  user_name TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX stage_approvals_by_stage ON stage_approvals (stage_run_id);
