// Operator calls for typed rollbacks and bad-version marks
// (planner_rollback.cc decides; docs/rollback.md). Each is one batch,
// answered after its commit; the edge has checked deploy permission.
#include "absl/strings/str_cat.h"
#include "controller/run_view.h"
#include "controller/scheduling/scheduler.h"

namespace gantry {
namespace {

void DeploymentView(const std::string& environment, const store::DeploymentRecord& d,
                    const std::vector<store::MaterialRevisionRecord>& materials,
                    v1::Deployment* out) {
  for (const auto& m : materials) {
    auto* dm = out->add_materials();
    dm->set_material(m.material);
    dm->set_revision(m.type == "git" ? m.revision : "");
    dm->set_upstream_pipeline(m.upstream_pipeline);
    dm->set_upstream_counter(m.upstream_counter);
  }
  out->set_environment(environment);
  out->set_pipeline(d.pipeline);
  out->set_counter(d.counter);
  out->set_label(d.label);
  out->set_stage(d.stage);
  out->set_stage_counter(d.stage_counter);
  out->set_kind(d.stage_counter > 1 ? "rerun" : "deploy");
  SetTimestamp(d.at, out->mutable_at());
  out->set_triggered_by(d.triggered_by);
}

}  // namespace

void BadVersionView(const store::BadVersionRecord& m, v1::BadVersion* out) {
  out->set_environment(m.environment);
  out->set_pipeline(m.pipeline);
  out->set_counter(m.counter);
  out->set_label(m.label);
  for (const auto& mat : m.materials) {
    auto* dm = out->add_materials();
    dm->set_material(mat.material);
    dm->set_revision(mat.type == "git" ? mat.revision : "");
    dm->set_upstream_pipeline(mat.upstream_pipeline);
    dm->set_upstream_counter(mat.upstream_counter);
  }
  out->set_marked_by(m.marked_by);
  out->set_reason(m.reason);
  SetTimestamp(m.marked_at, out->mutable_marked_at());
  out->set_cleared_by(m.cleared_by);
  if (m.cleared_at > 0) SetTimestamp(m.cleared_at, out->mutable_cleared_at());
  out->set_clear_reason(m.clear_reason);
}

void Scheduler::Rollback(v1::RollbackRequest request, Principal who,
                         Reply<v1::RollbackResponse> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        Batch batch;
        Prepare(batch);
        RollbackSpec spec{request.environment(), request.to_pipeline(), request.to_counter(),
                          request.reason(), user};
        auto outcome = planner_.Rollback(spec, &batch.effects);
        AfterOperation(batch, outcome.status());
        if (!outcome.ok() && batch.failed.ok()) {
          done(outcome.status());  // refused: nothing changed
          return;
        }
        std::optional<absl::Status> failed;
        batch.on_failure.push_back([&failed](const absl::Status& st) { failed = st; });
        Commit(batch);
        if (failed) return done(*failed);
        v1::RollbackResponse response;
        *response.mutable_run() = RunView(outcome->run_id);
        DeploymentView(request.environment(), outcome->from, outcome->from_materials,
                       response.mutable_from());
        response.mutable_from()->set_marked_bad(true);
        DeploymentView(request.environment(), outcome->to, outcome->to_materials,
                       response.mutable_to());
        done(response);
      });
}

void Scheduler::ClearBadVersion(v1::ClearBadVersionRequest request, Principal who,
                                Reply<v1::ListBadVersionsResponse> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        Batch batch;
        Prepare(batch);
        auto cleared = planner_.ClearBadVersions(request.environment(), request.pipeline(),
                                                 request.counter(), user, request.reason());
        AfterOperation(batch, cleared.status());
        if (!cleared.ok() && batch.failed.ok()) {
          done(cleared.status());
          return;
        }
        batch.effects.events.push_back(absl::StrCat("bad-version mark on ", request.pipeline(), "/",
                                                    request.counter(), " in ",
                                                    request.environment(), " cleared by ", user));
        std::optional<absl::Status> failed;
        batch.on_failure.push_back([&failed](const absl::Status& st) { failed = st; });
        Commit(batch);
        if (failed) return done(*failed);
        v1::ListBadVersionsResponse response;
        for (const auto& m : *cleared) BadVersionView(m, response.add_versions());
        done(response);
      });
}

}  // namespace gantry
