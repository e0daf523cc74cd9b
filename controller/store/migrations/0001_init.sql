-- The foundation schema: config revisions, pipeline/stage/job runs, console
-- logs, agents and operator tokens. Secrets are stored hashed.

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE api_tokens (
  id BIGSERIAL PRIMARY KEY,
  user_name TEXT NOT NULL,
  role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE config_revisions (
  revision BIGSERIAL PRIMARY KEY,
  author TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  content_hash TEXT NOT NULL,
  diff TEXT NOT NULL DEFAULT ''
);

CREATE TABLE config_files (
  revision BIGINT NOT NULL REFERENCES config_revisions(revision),
  position INT NOT NULL,
  path TEXT NOT NULL,
  content TEXT NOT NULL,
  PRIMARY KEY (revision, position)
);

CREATE TABLE pipelines (
  name TEXT PRIMARY KEY,
  last_counter BIGINT NOT NULL DEFAULT 0,
  paused BOOLEAN NOT NULL DEFAULT false,
  pause_reason TEXT NOT NULL DEFAULT '',
  paused_by TEXT NOT NULL DEFAULT ''
);

CREATE TABLE pipeline_runs (
  id BIGSERIAL PRIMARY KEY,
  pipeline TEXT NOT NULL REFERENCES pipelines(name),
  counter BIGINT NOT NULL,
  label TEXT NOT NULL,
  state TEXT NOT NULL,
  config_revision BIGINT NOT NULL REFERENCES config_revisions(revision),
  cause_kind TEXT NOT NULL,
  trigger_user TEXT NOT NULL,
  cause_message TEXT NOT NULL DEFAULT '',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  UNIQUE (pipeline, counter)
);

CREATE TABLE run_variables (
  run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  position INT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  secure BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (run_id, position)
);

CREATE TABLE run_materials (
  run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  material TEXT NOT NULL,
  type TEXT NOT NULL,
  revision TEXT NOT NULL DEFAULT '',
  upstream_pipeline TEXT NOT NULL DEFAULT '',
  upstream_counter BIGINT NOT NULL DEFAULT 0,
  upstream_stage TEXT NOT NULL DEFAULT '',
  upstream_stage_counter INT NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, material)
);

CREATE TABLE stage_runs (
  id BIGSERIAL PRIMARY KEY,
  run_id BIGINT NOT NULL REFERENCES pipeline_runs(id),
  name TEXT NOT NULL,
  stage_index INT NOT NULL,
  counter INT NOT NULL,
  state TEXT NOT NULL,
  approval TEXT NOT NULL,
  approved_by TEXT NOT NULL DEFAULT '',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ,
  UNIQUE (run_id, name, counter)
);

CREATE TABLE job_runs (
  id BIGSERIAL PRIMARY KEY,
  stage_run_id BIGINT NOT NULL REFERENCES stage_runs(id),
  name TEXT NOT NULL,
  config_job TEXT NOT NULL,
  state TEXT NOT NULL,
  agent_id TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  scheduled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  assigned_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  console_bytes BIGINT NOT NULL DEFAULT 0,
  last_sequence BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX job_runs_by_stage ON job_runs (stage_run_id);
CREATE INDEX job_runs_active ON job_runs (id) WHERE state IN ('scheduled', 'assigned', 'running');

CREATE TABLE console_chunks (
  job_run_id BIGINT NOT NULL REFERENCES job_runs(id),
  sequence BIGINT NOT NULL,
  start_offset BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (job_run_id, sequence)
);

CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hostname TEXT NOT NULL DEFAULT '',
  token_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  resources TEXT NOT NULL DEFAULT '',
  environments TEXT NOT NULL DEFAULT '',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_contact TIMESTAMPTZ
);
