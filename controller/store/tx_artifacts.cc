// Artifact rows of Tx: which files an attempt uploaded, with their digests.
#include <pqxx/pqxx>

#include "controller/store/statements.h"
#include "controller/store/tx.h"

namespace gantry::store {

bool Tx::RecordArtifact(const std::string& agent_id, const ArtifactRecord& a) {
  // Row-locks the attempt so a concurrent completion or loss cannot slip
  // between the check and the insert.
  auto held = work_.exec_prepared(kRecordArtifactHeld, a.job_run_id, agent_id);
  if (held.empty()) return false;
  work_.exec_prepared(kRecordArtifact, a.job_run_id, a.path, a.kind, a.size, a.sha256, a.executable,
                      a.xxh128);
  return true;
}

std::vector<ArtifactRecord> Tx::Artifacts(int64_t job_run_id, const std::string& prefix) {
  std::vector<ArtifactRecord> out;
  // A prefix names a file or a whole directory, never a partial name:
  // "out" matches "out" and "out/x", not "output".
  for (const auto& r : work_.exec_prepared(kArtifacts, job_run_id, prefix)) {
    ArtifactRecord a;
    a.job_run_id = job_run_id;
    a.path = r[0].as<std::string>();
    a.kind = r[1].as<std::string>();
    a.size = r[2].as<int64_t>();
    a.sha256 = r[3].as<std::string>();
    a.executable = r[4].as<bool>();
    a.xxh128 = r[5].as<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<std::string> Tx::EnabledAgentTokenHash(const std::string& agent_id) {
  auto r = work_.exec_prepared(kEnabledAgentTokenHash, agent_id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

}  // namespace gantry::store
