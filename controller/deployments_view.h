// What is deployed where: environments' deploys read from the runs' rows
// (`gantry env list`, `gantry env history`), with the rollbacks among them
// and the versions marked bad. What counts as a deploy is
// planner/deploy_scope.h and store/tx_deployments.cc (docs/rollback.md).
#pragma once

#include <string>
#include <vector>

#include "common/config/model.h"
#include "controller/planner/deploy_scope.h"
#include "controller/store/tx.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// A deploy's own fields (kind "deploy" or "rerun"); approvals, materials
// and rollback details need reads and are ReadDeployments'.
void SetDeploymentFields(const std::string& environment, const store::DeploymentRecord& record,
                         v1::Deployment* out);
// Run materials as a deploy or a bad-version mark shows them (no labels).
void AddDeployedMaterials(const std::vector<store::MaterialRevisionRecord>& materials,
                          google::protobuf::RepeatedPtrField<v1::DeployedMaterial>* out);

// Every deploy into `env`, newest first, at most `limit`; each with who
// triggered and approved it and its materials.
std::vector<v1::Deployment> ReadDeployments(store::Tx& tx, const config::Environment& env,
                                            const DeployScope& scope, int64_t limit);

// Each environment of `config` with its newest deploy (unset when none).
v1::ListDeployedEnvironmentsResponse ReadDeployedEnvironments(store::Tx& tx,
                                                              const config::Config& config,
                                                              const MayViewPipeline& may_view);

}  // namespace gantry
