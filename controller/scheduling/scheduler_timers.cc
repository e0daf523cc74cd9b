// Pipeline timers at the scheduler (timer_schedule.h decides when): every
// second of the scheduler's clock, on the strand, the timers due fire as
// triggers through the inbox, like an operator's, with the cause "timer".
// What each timer last took into account is written first, so a tick fires
// at most once even across a restart; a tick missed while the controller
// was down fires once, at the first check after start-up.
#include <spdlog/spdlog.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "controller/planner/git_revisions.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

absl::Status Scheduler::StartTimers() {
  std::promise<absl::Status> loaded;
  strand_.Post([&] {
    std::vector<store::TimerStateRecord> states;
    absl::Status st = db_->Run("TimerStates", [&](store::Tx& tx) {
      states = tx.TimerStates();
      return absl::OkStatus();
    });
    if (st.ok()) timers_.Load(states, clock_->Now());
    loaded.set_value(st);
  });
  absl::Status st = loaded.get_future().get();
  if (!st.ok()) return st;
  clock_->Every(absl::Seconds(1),
                [this] { strand_.Post([this, posted = clock_->Now()] { FireTimers(posted); }); });
  return absl::OkStatus();
}

void Scheduler::FireTimers(absl::Time now) {
  if (closing_) return;
  std::shared_ptr<const config::Config> config = configs_->current();
  if (!config) return;
  TimerSchedule::Taken taken = timers_.Take(*config, now);
  if (!taken.save.empty() || !taken.drop.empty()) {
    absl::Status st = db_->Run("SaveTimerStates", [&](store::Tx& tx) {
      for (const auto& s : taken.save) tx.SetTimerState(s);
      for (const auto& p : taken.drop) tx.DeleteTimerState(p);
      return absl::OkStatus();
    });
    // Memory has moved on: the timers fire now all the same; a restart
    // before the next write may fire one of them once more.
    if (!st.ok()) spdlog::warn("cannot record timer ticks: {}", st.ToString());
  }
  for (const TimerSchedule::Due& due : taken.due) {
    const config::Pipeline* pipeline = config->FindPipeline(due.pipeline);
    if (pipeline == nullptr) continue;
    if (due.only_on_changes) {
      absl::StatusOr<bool> changed = MaterialsChanged(*pipeline);
      if (!changed.ok()) {
        spdlog::warn("timer of {}: cannot tell whether its materials changed ({}); triggering",
                     due.pipeline, changed.status().ToString());
      } else if (!*changed) {
        spdlog::info("timer of {} ('{}'): no material changed since its last run; not triggered",
                     due.pipeline, due.spec);
        continue;
      }
    }
    Inbound in;
    TriggerSpec spec;
    spec.pipeline = due.pipeline;
    spec.cause_kind = "timer";
    spec.message = TimerCauseMessage(due, options_.timer_zone);
    in.trigger = std::move(spec);
    in.trigger_done = [pipeline = due.pipeline](absl::StatusOr<v1::PipelineRun> run) {
      if (run.ok()) {
        spdlog::info("{}/{} triggered by its timer", run->pipeline(), run->counter());
      } else {
        // Paused, locked, an upstream never passed: the next tick tries again.
        spdlog::info("timer of {} not triggered: {}", pipeline,
                     std::string(run.status().message()));
      }
    };
    Deliver(std::move(in));
  }
}

absl::StatusOr<bool> Scheduler::MaterialsChanged(const config::Pipeline& pipeline) {
  auto newest = cold_.LoadRun(pipeline.name, 0);
  if (!newest.ok()) return newest.status();
  if (!*newest) return true;  // never ran
  const std::vector<store::MaterialRevisionRecord>& built = (*newest)->materials;
  auto built_of = [&](const std::string& name) -> const store::MaterialRevisionRecord* {
    for (const auto& m : built) {
      if (m.material == name) return &m;
    }
    return nullptr;
  };
  for (const config::Material& m : pipeline.materials) {
    if (m.ignore_for_scheduling) continue;  // never a reason to run (GoCD)
    const store::MaterialRevisionRecord* was = built_of(m.name);
    if (was == nullptr) return true;  // added since
    if (m.type == config::Material::Type::kGit) {
      // Not fetched yet (just after start-up, or `auto_update: false`
      // without a notify): cannot tell, so it counts as changed rather
      // than a build silently skipped.
      std::string head = git_heads_ ? git_heads_->Head(m.url, m.branch) : "";
      if (head.empty() || head != was->revision) return true;
      continue;
    }
    auto latest = cold_.LatestPassedStage(m.pipeline, m.stage);
    if (!latest.ok()) return latest.status();
    if (*latest && ((*latest)->first.counter != was->upstream_counter ||
                    (*latest)->second.counter != was->upstream_stage_counter)) {
      return true;
    }
  }
  return false;
}

}  // namespace gantry
