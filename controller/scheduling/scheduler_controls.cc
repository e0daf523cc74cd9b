// Operator calls on a pipeline's pause and lock, and what a config apply
// changes about them. The decisions are the planner's (planner_controls.cc);
// each call is one batch, answered after its commit.
#include <spdlog/spdlog.h>

#include "controller/controls_view.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

void Scheduler::ControlsOperation(const std::string& pipeline,
                                  const std::function<absl::Status(Effects*)>& operation,
                                  const Reply<v1::PipelineControls>& done) {
  Batch batch;
  Prepare(batch);
  absl::Status st = operation(&batch.effects);
  AfterOperation(batch, st);
  if (!st.ok() && batch.failed.ok()) {
    done(st);  // refused: nothing changed
    return;
  }
  std::optional<absl::Status> failed;
  batch.on_failure.push_back([&failed](const absl::Status& s) { failed = s; });
  Commit(batch);
  if (failed) return done(*failed);
  v1::PipelineControls view;
  BuildControlsView(pipeline, model_.controls().Find(pipeline), *configs_->current(), &view);
  done(view);
}

void Scheduler::Pause(v1::PausePipelineRequest request, Principal who,
                      Reply<v1::PipelineControls> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        ControlsOperation(
            request.pipeline(),
            [&](Effects* effects) {
              absl::Status st = planner_.Pause(request.pipeline(), user, request.reason());
              if (st.ok()) {
                effects->events.push_back("pipeline " + request.pipeline() + " paused by " + user +
                                          ": " + request.reason());
              }
              return st;
            },
            done);
      });
}

void Scheduler::Unpause(v1::PipelineRequest request, Principal who,
                        Reply<v1::PipelineControls> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        ControlsOperation(
            request.pipeline(),
            [&](Effects* effects) { return planner_.Unpause(request.pipeline(), user, effects); },
            done);
      });
}

void Scheduler::Unlock(v1::PipelineRequest request, Principal who,
                       Reply<v1::PipelineControls> done) {
  strand_.Post([this, request = std::move(request), user = std::move(who.user),
                done = std::move(done)] {
    ControlsOperation(
        request.pipeline(),
        [&](Effects* effects) { return planner_.Unlock(request.pipeline(), user, effects); }, done);
  });
}

void Scheduler::ConfigApplied(Batch& batch) {
  // Between batches memory holds nothing uncommitted, so the rows read here
  // are the whole truth; config apply wrote rows of new pipelines.
  std::vector<store::PipelineRecord> controls;
  absl::Status st = db_->Run("PipelineControls", [&](store::Tx& tx) {
    controls = tx.PipelineControls();
    return absl::OkStatus();
  });
  if (!st.ok()) {
    spdlog::error("cannot read pipeline pause and lock states after a config apply: {}",
                  st.ToString());
    batch.failed = st;  // the commit reloads everything from the database
    return;
  }
  model_.LoadControls(std::move(controls));
  AfterOperation(batch, planner_.ConfigChanged(&batch.effects));
}

}  // namespace gantry
