// Operator calls for typed rollbacks and bad-version marks
// (planner_rollback.cc decides; docs/rollback.md). Each is one batch,
// answered after its commit; the edge has checked deploy permission.
#include "absl/strings/str_cat.h"
#include "controller/deployments_view.h"
#include "controller/run_view.h"
#include "controller/scheduling/scheduler.h"

namespace gantry {
void BadVersionView(const store::BadVersionRecord& m, v1::BadVersion* out) {
  out->set_environment(m.environment);
  out->set_pipeline(m.pipeline);
  out->set_counter(m.counter);
  out->set_label(m.label);
  AddDeployedMaterials(m.materials, out->mutable_materials());
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
        SetDeploymentFields(request.environment(), outcome->from, response.mutable_from());
        AddDeployedMaterials(outcome->from_materials, response.mutable_from()->mutable_materials());
        response.mutable_from()->set_marked_bad(true);
        SetDeploymentFields(request.environment(), outcome->to, response.mutable_to());
        AddDeployedMaterials(outcome->to_materials, response.mutable_to()->mutable_materials());
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
