// What is deployed where (`gantry env list`, `gantry env history`): the
// passed attempts of each environment pipeline's deploy stage, read from the
// runs' rows. Nothing extra is stored: a deploy is a fact about a stage run.
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

std::vector<DeploymentRecord> DeploymentsFrom(const pqxx::result& rows) {
  std::vector<DeploymentRecord> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<int>(), r[5].as<std::string>(),
                   r[6].as<int64_t>(), r[7].as<int64_t>(), r[8].as<int64_t>()});
  }
  return out;
}

}  // namespace

std::vector<DeploymentRecord> Tx::Deployments(const std::vector<std::string>& pipelines,
                                              const std::vector<std::string>& deploy_stages,
                                              int64_t limit) {
  if (pipelines.empty()) return {};
  return DeploymentsFrom(
      work_.exec_prepared(kDeployments, TextArray(pipelines), TextArray(deploy_stages), limit));
}

std::vector<DeploymentRecord> Tx::CurrentDeployments(
    const std::vector<std::string>& pipelines, const std::vector<std::string>& deploy_stages) {
  if (pipelines.empty()) return {};
  return DeploymentsFrom(
      work_.exec_prepared(kCurrentDeployments, TextArray(pipelines), TextArray(deploy_stages)));
}

std::vector<DeployedMaterialRecord> Tx::DeployedMaterials(const std::vector<int64_t>& run_ids) {
  std::vector<DeployedMaterialRecord> out;
  if (run_ids.empty()) return out;
  PgArray ids;
  for (int64_t id : run_ids) ids.Add(id);
  for (const auto& r : work_.exec_prepared(kDeployedMaterials, ids.str())) {
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<int64_t>(), r[5].as<std::string>()});
  }
  return out;
}

}  // namespace gantry::store
