#include "controller/controls_view.h"

#include "absl/strings/str_cat.h"
#include "controller/run_view.h"

namespace gantry {

std::string LockBehaviorName(config::LockBehavior behavior) {
  switch (behavior) {
    case config::LockBehavior::kLockOnFailure:
      return "lockOnFailure";
    case config::LockBehavior::kUnlockWhenFinished:
      return "unlockWhenFinished";
    case config::LockBehavior::kNone:
      break;
  }
  return "none";
}

void BuildControlsView(const std::string& pipeline, const store::PipelineRecord* row,
                       const config::Config& config, v1::PipelineControls* out) {
  out->set_pipeline(pipeline);
  const config::Pipeline* p = config.FindPipeline(pipeline);
  config::LockBehavior behavior = p == nullptr ? config::LockBehavior::kNone : p->lock_behavior;
  out->set_lock_behavior(LockBehaviorName(behavior));
  if (row == nullptr) return;
  if (row->paused) {
    out->set_paused(true);
    out->set_paused_by(row->paused_by);
    if (row->paused_at > 0) SetTimestamp(row->paused_at, out->mutable_paused_at());
    out->set_pause_reason(row->pause_reason);
  }
  if (behavior != config::LockBehavior::kNone) out->set_locked_by(row->locked_by);
  const store::PipelineWaitingTrigger& w = row->waiting;
  if (!w.upstream_pipeline.empty()) {
    out->set_waiting_trigger(absl::StrCat(w.upstream_pipeline, "/", w.upstream_counter, "/",
                                          w.upstream_stage, "/", w.upstream_stage_counter));
    out->set_waiting_message(w.message);
  }
}

}  // namespace gantry
