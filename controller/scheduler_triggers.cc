// Manual triggers, batched: every TriggerPipeline call waiting when the
// strand gets to them is planned in one transaction, and the new jobs that
// idle agents can take are assigned in it too. Under a burst of triggers one
// commit serves many runs; alone, a trigger costs one transaction from RPC
// to Assign.
#include <spdlog/spdlog.h>

#include "common/status_macros.h"
#include "controller/run_view.h"
#include "controller/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

void Scheduler::Trigger(v1::TriggerPipelineRequest request, std::string user,
                        Reply<v1::PipelineRun> done) {
  TriggerCall call;
  call.spec.pipeline = request.pipeline();
  call.spec.user = std::move(user);
  call.spec.cause_kind = "manual";
  for (const auto& [k, v] : request.revisions()) call.spec.revisions[k] = v;
  for (const auto& v : request.variables()) {
    if (v.name().empty()) {
      done(absl::InvalidArgumentError("a trigger variable has an empty name"));
      return;
    }
    call.spec.variables.push_back({v.name(), v.value(), v.secure()});
  }
  call.done = std::move(done);
  bool post;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    post = triggers_.empty();
    triggers_.push_back(std::move(call));
  }
  if (post) strand_.Post([this] { DrainTriggers(); });
}

void Scheduler::DrainTriggers() {
  std::vector<TriggerCall> calls;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    calls.swap(triggers_);
  }
  for (size_t begin = 0; begin < calls.size(); begin += kMaxTriggerBatch) {
    size_t end = std::min(calls.size(), begin + kMaxTriggerBatch);
    bool refused = false;
    absl::Status st = TriggerBatch(calls, begin, end, &refused);
    // Only a refused trigger is worth retrying alone. If the database failed
    // (Db::Run already retried, or the commit is in doubt), one by one would
    // wait out the same outage once per call, or start a run twice.
    if (st.ok() || end - begin == 1 || !refused) {
      for (size_t i = begin; i < end; ++i) {
        if (st.ok()) {
          calls[i].done(std::move(calls[i].view));
        } else {
          calls[i].done(st);
        }
      }
      continue;
    }
    // One refused trigger (an unknown or paused pipeline, say) must not fail
    // the others: each on its own.
    for (size_t i = begin; i < end; ++i) {
      absl::Status one = TriggerBatch(calls, i, i + 1, &refused);
      if (one.ok()) {
        calls[i].done(std::move(calls[i].view));
      } else {
        calls[i].done(one);
      }
    }
  }
}

absl::Status Scheduler::TriggerBatch(std::vector<TriggerCall>& calls, size_t begin, size_t end,
                                     bool* refused) {
  AgentNames names;
  for (const auto& [id, a] : agents_) names[id] = a.record.name;
  PlanEffects effects;  // of all the calls, plus failed assignments
  Assignment assignment;
  auto plan = [&](store::Tx& tx) -> absl::Status {
    effects.Clear();
    std::vector<store::PipelineRunRecord> runs;
    for (size_t i = begin; i < end; ++i) {
      ASSIGN_OR_RETURN(store::PipelineRunRecord run,
                       planner_.Trigger(tx, calls[i].spec, &effects));
      runs.push_back(std::move(run));
    }
    // Assigned in the same commit when an agent is idle: trigger to Assign
    // costs one transaction, not three.
    assignment.batch = PairWithIdleAgents(effects.scheduled_jobs);
    RETURN_IF_ERROR(AssignInTx(tx, &assignment, &effects));
    for (size_t i = begin; i < end; ++i) {
      calls[i].view.Clear();
      BuildRunView(tx, runs[i - begin], configs_->current().get(), names, &calls[i].view);
    }
    return absl::OkStatus();
  };
  // A status the planning returns is a refusal; a database failure arrives
  // as Db::Run's own status with `refused` false.
  absl::Status st = db_->Run("TriggerPipeline", [&](store::Tx& tx) {
    absl::Status planned = plan(tx);
    *refused = !planned.ok();
    return planned;
  });
  if (!st.ok()) return st;
  AssignedInline(assignment, &effects);
  ApplyEffects(effects);
  return absl::OkStatus();
}

}  // namespace gantry
