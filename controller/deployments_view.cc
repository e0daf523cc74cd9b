#include "controller/deployments_view.h"

#include <map>
#include <set>

#include "controller/run_view.h"

namespace gantry {
namespace {

// Records to messages, with approvals and materials read for all at once.
std::vector<v1::Deployment> Fill(store::Tx& tx, const std::string& environment,
                                 const std::vector<store::DeploymentRecord>& records) {
  std::vector<int64_t> run_ids;
  for (const auto& r : records) run_ids.push_back(r.run_id);
  std::vector<store::StageApprovalRecord> approvals = tx.ApprovalsOfRuns(run_ids);
  std::map<int64_t, std::vector<store::DeployedMaterialRecord>> materials;
  for (auto& m : tx.DeployedMaterials(run_ids)) materials[m.run_id].push_back(std::move(m));
  std::vector<int64_t> stage_run_ids;
  for (const auto& r : records) stage_run_ids.push_back(r.stage_run_id);
  std::map<int64_t, store::RollbackRecord> rollbacks;  // by stage run
  for (auto& b : tx.RollbacksOfStageRuns(stage_run_ids)) {
    if (b.environment == environment) rollbacks[b.stage_run_id] = std::move(b);
  }
  std::set<int64_t> bad;  // runs marked bad in this environment
  for (const auto& m : tx.BadVersions(environment, false)) bad.insert(m.run_id);

  std::vector<v1::Deployment> out;
  out.reserve(records.size());
  for (const auto& r : records) {
    v1::Deployment& d = out.emplace_back();
    SetDeploymentFields(environment, r, &d);
    if (auto it = rollbacks.find(r.stage_run_id); it != rollbacks.end()) {
      const store::RollbackRecord& b = it->second;
      d.set_kind("rollback");
      v1::RollbackInfo* info = d.mutable_rollback();
      info->set_by(b.by);
      info->set_reason(b.reason);
      SetTimestamp(b.at, info->mutable_at());
      info->set_from_pipeline(b.from_pipeline);
      info->set_from_counter(b.from_counter);
      info->set_from_label(b.from_label);
    }
    d.set_marked_bad(bad.count(r.run_id) > 0);
    for (const auto& a : approvals) {
      // Approvals short of a quorum were recorded before the stage's first
      // attempt existed (stage_run_id 0); they belong to that attempt.
      bool before_first =
          a.stage_run_id == 0 && a.run_id == r.run_id && a.stage == r.stage && r.stage_counter == 1;
      if (a.stage_run_id != r.stage_run_id && !before_first) continue;
      auto* approval = d.add_approvals();
      approval->set_user(a.user);
      SetTimestamp(a.at, approval->mutable_at());
      approval->set_comment(a.comment);
    }
    for (const auto& m : materials[r.run_id]) {
      auto* dm = d.add_materials();
      dm->set_material(m.material);
      dm->set_revision(m.revision);
      dm->set_upstream_pipeline(m.upstream_pipeline);
      dm->set_upstream_counter(m.upstream_counter);
      dm->set_upstream_label(m.upstream_label);
    }
  }
  return out;
}

}  // namespace

void SetDeploymentFields(const std::string& environment, const store::DeploymentRecord& r,
                         v1::Deployment* d) {
  d->set_environment(environment);
  d->set_pipeline(r.pipeline);
  d->set_counter(r.counter);
  d->set_label(r.label);
  d->set_stage(r.stage);
  d->set_stage_counter(r.stage_counter);
  d->set_kind(r.stage_counter > 1 ? "rerun" : "deploy");
  SetTimestamp(r.at, d->mutable_at());
  d->set_triggered_by(r.triggered_by);
}

void AddDeployedMaterials(const std::vector<store::MaterialRevisionRecord>& materials,
                          google::protobuf::RepeatedPtrField<v1::DeployedMaterial>* out) {
  for (const auto& m : materials) {
    v1::DeployedMaterial* dm = out->Add();
    dm->set_material(m.material);
    dm->set_revision(m.type == "git" ? m.revision : "");
    dm->set_upstream_pipeline(m.upstream_pipeline);
    dm->set_upstream_counter(m.upstream_counter);
  }
}

std::vector<v1::Deployment> ReadDeployments(store::Tx& tx, const config::Environment& env,
                                            const DeployScope& scope, int64_t limit) {
  return Fill(tx, env.name, tx.Deployments(scope.pipelines, scope.deploy_stages, limit));
}

v1::ListDeployedEnvironmentsResponse ReadDeployedEnvironments(store::Tx& tx,
                                                              const config::Config& config,
                                                              const MayViewPipeline& may_view) {
  v1::ListDeployedEnvironmentsResponse response;
  for (const config::Environment& env : config.environments) {
    DeployScope scope = DeployScopeOf(config, env, may_view);
    v1::DeployedEnvironment* out = response.add_environments();
    out->set_name(env.name);
    for (const auto& p : scope.pipelines) out->add_pipelines(p);
    // The newest of the pipelines' newest deploys is the one in place now.
    std::vector<store::DeploymentRecord> newest =
        tx.CurrentDeployments(scope.pipelines, scope.deploy_stages);
    const store::DeploymentRecord* current = nullptr;
    for (const auto& r : newest) {
      if (current == nullptr || r.at > current->at ||
          (r.at == current->at && r.stage_run_id > current->stage_run_id)) {
        current = &r;
      }
    }
    if (current == nullptr) continue;
    *out->mutable_current() = std::move(Fill(tx, env.name, {*current}).front());
  }
  return response;
}

}  // namespace gantry
