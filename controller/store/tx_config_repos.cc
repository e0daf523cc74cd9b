// Config repositories (docs/config-repos.md): where a config revision came
// from, and each repo's last seen and last good commit (migration 0018).
#include <pqxx/pqxx>

#include "controller/store/tx.h"

namespace gantry::store {

void Tx::SetConfigRevisionSource(int64_t revision, const ConfigRevisionSource& source) {
  work_.exec_params(
      "UPDATE config_revisions SET config_repo = $2, config_repo_commit = $3 WHERE revision = $1",
      revision, source.config_repo, source.commit);
}

ConfigRevisionSource Tx::GetConfigRevisionSource(int64_t revision) {
  auto r = work_.exec_params(
      "SELECT config_repo, config_repo_commit FROM config_revisions WHERE revision = $1", revision);
  if (r.empty()) return {};
  return {r[0][0].as<std::string>(), r[0][1].as<std::string>()};
}

std::vector<ConfigRepoStateRecord> Tx::ConfigRepoStates() {
  std::vector<ConfigRepoStateRecord> out;
  auto rows = work_.exec(
      "SELECT id, source, last_seen, last_good, files_hash, errors, fetch_error, "
      "(extract(epoch FROM updated_at) * 1000)::bigint FROM config_repo_states ORDER BY id");
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                   r[6].as<std::string>(), r[7].as<int64_t>()});
  }
  return out;
}

void Tx::SetConfigRepoState(const ConfigRepoStateRecord& s) {
  work_.exec_params(
      "INSERT INTO config_repo_states "
      "(id, source, last_seen, last_good, files_hash, errors, fetch_error, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, now()) "
      "ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, last_seen = EXCLUDED.last_seen, "
      "last_good = EXCLUDED.last_good, files_hash = EXCLUDED.files_hash, "
      "errors = EXCLUDED.errors, fetch_error = EXCLUDED.fetch_error, updated_at = now()",
      s.id, s.source, s.last_seen, s.last_good, s.files_hash, s.errors, s.fetch_error);
}

}  // namespace gantry::store
