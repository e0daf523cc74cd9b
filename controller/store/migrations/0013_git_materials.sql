-- Git materials (docs/materials.md). The commits that made a revision of a
-- pipeline's git material new (since the revision its previous run built),
-- recorded by the poller before it triggers, shown in the build cause of
-- the pipeline's runs at that revision. Newest first (position 0).
CREATE TABLE material_commits (
  pipeline TEXT NOT NULL,
  material TEXT NOT NULL,
  revision TEXT NOT NULL,
  position INT NOT NULL,
  sha TEXT NOT NULL,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  committed_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (pipeline, material, revision, position)
);

-- A run triggered by a new commit has the cause "material".
ALTER TABLE pipeline_runs DROP CONSTRAINT pipeline_runs_cause_check;
ALTER TABLE pipeline_runs ADD CONSTRAINT pipeline_runs_cause_check
  CHECK (cause_kind IN ('manual', 'upstream', 'material'));
