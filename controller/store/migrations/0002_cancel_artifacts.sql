-- Stage cancel survives a controller restart: a running attempt asked to
-- stop keeps the reason until its agent reports the end.
ALTER TABLE job_runs ADD COLUMN cancel_reason TEXT NOT NULL DEFAULT '';

-- Once a job's console reaches the cap, later output is dropped after one
-- truncation marker.
ALTER TABLE job_runs ADD COLUMN console_truncated BOOLEAN NOT NULL DEFAULT false;

-- Artifact files per job attempt; the bytes live in the controller's
-- content-addressed store (DATA_DIR/artifacts/sha256/xx/<digest>).
CREATE TABLE artifacts (
  job_run_id BIGINT NOT NULL REFERENCES job_runs(id),
  path TEXT NOT NULL,
  kind TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  executable BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (job_run_id, path)
);
