// Git materials at the scheduler's edge (controller/materials/): a trigger
// that names a git revision has it resolved to a full SHA off the strand
// first, and a new commit's trigger goes into the inbox like an operator's.
#include "controller/scheduling/scheduler.h"

namespace gantry {

void Scheduler::SetGitMaterials(const GitHeads* heads, GitRevisionResolver resolver) {
  planner_.set_git_heads(heads);
  git_heads_ = heads;
  git_resolver_ = std::move(resolver);
}

void Scheduler::TriggerForMaterial(TriggerSpec spec, Reply<v1::PipelineRun> done) {
  Inbound in;
  in.trigger = std::move(spec);
  in.trigger_done = std::move(done);
  Deliver(std::move(in));
}

void Scheduler::ResolveThenDeliver(TriggerSpec spec, Reply<v1::PipelineRun> done) {
  git_resolver_(std::move(spec), [this, done = std::move(done)](absl::StatusOr<TriggerSpec> s) {
    if (!s.ok()) {
      done(s.status());
      return;
    }
    TriggerForMaterial(std::move(*s), std::move(done));
  });
}

}  // namespace gantry
