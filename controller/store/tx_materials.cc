// Git materials: what the poller starts from after a restart, and the
// commits behind each revision a pipeline built (migration 0013).
#include <pqxx/pqxx>

#include "controller/store/tx.h"

namespace gantry::store {

std::vector<LastGitRevisionRecord> Tx::LastGitRevisions() {
  std::vector<LastGitRevisionRecord> out;
  auto rows = work_.exec(
      "SELECT DISTINCT ON (r.pipeline, m.material) r.pipeline, m.material, m.revision "
      "FROM pipeline_runs r JOIN run_materials m ON m.run_id = r.id "
      "WHERE m.type = 'git' AND m.revision <> '' "
      "ORDER BY r.pipeline, m.material, r.counter DESC");
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  }
  return out;
}

void Tx::RecordMaterialCommits(const std::string& pipeline, const std::string& material,
                               const std::string& revision,
                               const std::vector<MaterialCommitRecord>& commits) {
  // Recorded once per revision: a second trigger at the same commit (the
  // poller after a refused trigger, a restart) keeps the first list.
  for (size_t i = 0; i < commits.size(); ++i) {
    const auto& c = commits[i];
    work_.exec_params(
        "INSERT INTO material_commits (pipeline, material, revision, position, sha, author, "
        "message, committed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8)) "
        "ON CONFLICT DO NOTHING",
        pipeline, material, revision, static_cast<int>(i), c.sha, c.author, c.message,
        c.committed_at);
  }
}

std::vector<MaterialCommitRecord> Tx::MaterialCommits(const std::string& pipeline,
                                                      const std::string& material,
                                                      const std::string& revision) {
  std::vector<MaterialCommitRecord> out;
  auto rows = work_.exec_params(
      "SELECT sha, author, message, extract(epoch FROM committed_at)::bigint "
      "FROM material_commits WHERE pipeline = $1 AND material = $2 AND revision = $3 "
      "ORDER BY position",
      pipeline, material, revision);
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<int64_t>()});
  }
  return out;
}

}  // namespace gantry::store
