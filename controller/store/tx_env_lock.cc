// The environment deploy lock for readers (`gantry env show`, a waiting
// stage's reason): derived from the runs' rows, as the planner derives it
// from memory, since the lock itself is never stored.
#include <pqxx/pqxx>

#include "controller/store/pg_array.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

std::string TextArray(const std::vector<std::string>& items) {
  PgArray a;
  for (const auto& s : items) a.Add(s);
  return a.str();
}

}  // namespace

std::optional<std::pair<std::string, int64_t>> Tx::EnvLockHolder(
    const std::vector<std::string>& pipelines) {
  if (pipelines.empty()) return std::nullopt;
  pqxx::result r = work_.exec_prepared(kEnvLockHolder, TextArray(pipelines));
  if (r.empty()) return std::nullopt;
  return std::make_pair(r[0][0].as<std::string>(), r[0][1].as<int64_t>());
}

std::vector<EnvLockWaiterRecord> Tx::EnvLockQueue(const std::vector<std::string>& pipelines) {
  std::vector<EnvLockWaiterRecord> out;
  if (pipelines.empty()) return out;
  for (const auto& r : work_.exec_prepared(kEnvLockQueue, TextArray(pipelines))) {
    out.push_back(
        {r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<std::string>(), r[3].as<int64_t>()});
  }
  return out;
}

}  // namespace gantry::store
