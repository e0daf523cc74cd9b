-- A gate that needs several approvers (`approval.required`) records each
-- approval as it comes, before the stage run exists (it is created by the
-- approval that completes the quorum). So an approval belongs to a run and
-- a stage name, and to a stage run only once there is one; approvals that
-- came before it keep stage_run_id NULL and belong to that stage's run.
ALTER TABLE stage_approvals ADD COLUMN run_id BIGINT REFERENCES pipeline_runs(id);
ALTER TABLE stage_approvals ADD COLUMN stage_name TEXT;
UPDATE stage_approvals a SET run_id = s.run_id, stage_name = s.name
  FROM stage_runs s WHERE s.id = a.stage_run_id;
ALTER TABLE stage_approvals ALTER COLUMN run_id SET NOT NULL;
ALTER TABLE stage_approvals ALTER COLUMN stage_name SET NOT NULL;
ALTER TABLE stage_approvals ALTER COLUMN stage_run_id DROP NOT NULL;
CREATE INDEX stage_approvals_by_run ON stage_approvals (run_id);
