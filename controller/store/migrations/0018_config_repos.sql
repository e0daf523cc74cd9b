-- Config repositories (docs/config-repos.md). A config revision made from a
-- config repo's commit records the repo and the commit; one applied with
-- `config apply` leaves both empty. The repo's files are stored among the
-- revision's files as config-repo/<id>/<path in the repository>.
ALTER TABLE config_revisions ADD COLUMN config_repo TEXT NOT NULL DEFAULT '';
ALTER TABLE config_revisions ADD COLUMN config_repo_commit TEXT NOT NULL DEFAULT '';

-- What the controller last saw of each config repo, kept across restarts:
-- `source` is a digest of URL, branch and pattern (a changed entry starts
-- over; no URL is stored), `errors` the refused commit's errors, one
-- "file:line:col: message" per line, `files_hash` the digest of the last good
-- commit's matching files as read from git.
CREATE TABLE config_repo_states (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  last_seen TEXT NOT NULL DEFAULT '',
  last_good TEXT NOT NULL DEFAULT '',
  files_hash TEXT NOT NULL DEFAULT '',
  errors TEXT NOT NULL DEFAULT '',
  fetch_error TEXT NOT NULL DEFAULT '',
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
