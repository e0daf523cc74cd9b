// Pause and pipeline locks (GoCD's PipelinePauseService and
// PipelineLockService): what they refuse, when a lock is taken and
// released, and the upstream trigger that waits while a pipeline is paused
// or locked. docs/config.md ("lock_behavior", "paused") and docs/cli.md
// ("pipeline pause", "pipeline unlock") describe the same rules.
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "controller/planner/planner.h"

namespace gantry {
namespace {

constexpr size_t kMaxPauseReasonBytes = 1000;

std::string FormatMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// "paused by alice at 2026-12-01 19:30:00 UTC: hotfix only".
std::string PausedText(const store::PipelineRecord& c) {
  std::string text = absl::StrCat("paused by ", c.paused_by.empty() ? "?" : c.paused_by);
  if (c.paused_at > 0) absl::StrAppend(&text, " at ", FormatMs(c.paused_at));
  absl::StrAppend(&text, ": ", c.pause_reason.empty() ? "(no reason given)" : c.pause_reason);
  return text;
}

std::string BehaviorName(config::LockBehavior b) {
  switch (b) {
    case config::LockBehavior::kLockOnFailure:
      return "lockOnFailure";
    case config::LockBehavior::kUnlockWhenFinished:
      return "unlockWhenFinished";
    case config::LockBehavior::kNone:
      break;
  }
  return "none";
}

absl::Status CheckPauseReason(const std::string& reason) {
  if (reason.size() > kMaxPauseReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pause reason is ", reason.size(), " bytes; at most ", kMaxPauseReasonBytes, " are kept"));
  }
  for (unsigned char c : reason) {
    // It is printed in `pipeline list` and in refusals: one line.
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return absl::InvalidArgumentError(
          "pause reason must be one line of text (no control characters)");
    }
  }
  return absl::OkStatus();
}

}  // namespace

config::LockBehavior Planner::LockBehaviorOf(const std::string& pipeline) const {
  // Today's config decides, as in GoCD: a lock whose pipeline is no longer
  // lockable holds nothing back (and ConfigChanged releases it).
  const config::Pipeline* p = configs_->current()->FindPipeline(pipeline);
  return p == nullptr ? config::LockBehavior::kNone : p->lock_behavior;
}

int64_t Planner::LockHolder(const std::string& pipeline) const {
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c == nullptr || LockBehaviorOf(pipeline) == config::LockBehavior::kNone) return 0;
  return c->locked_by;
}

absl::Status Planner::CheckTriggerAllowed(const std::string& pipeline) const {
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c != nullptr && c->paused) {
    return absl::FailedPreconditionError(absl::StrCat("cannot trigger ", pipeline, ": it is ",
                                                      PausedText(*c), " (`gantry pipeline unpause ",
                                                      pipeline, "`)"));
  }
  if (int64_t holder = LockHolder(pipeline); holder != 0) {
    // GoCD schedules no new run of a locked pipeline; it does not queue a
    // manual one either.
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot trigger ", pipeline, ": it is locked by its run ", pipeline, "/", holder,
        " (lock_behavior ", BehaviorName(LockBehaviorOf(pipeline)),
        "); a new run may start once that run releases the lock, or after `gantry pipeline "
        "unlock ",
        pipeline, "`"));
  }
  return absl::OkStatus();
}

absl::Status Planner::CheckStageAllowed(const RunEntry& run, const std::string& what) const {
  // Every path that starts a stage on an operator's behalf checks this:
  // approve today; a stage re-run must call it too when it is built.
  const std::string& pipeline = run.run.pipeline;
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c != nullptr && c->paused) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", what, ": pipeline ", pipeline, " is ", PausedText(*c)));
  }
  int64_t holder = LockHolder(pipeline);
  if (holder != 0 && holder != run.run.counter) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", what, ": pipeline ", pipeline, " is locked by its run ", pipeline, "/", holder));
  }
  return absl::OkStatus();
}

bool Planner::KeepWaiting(const TriggerSpec& spec, Effects* effects) {
  // Only upstream triggers exist besides manual ones today. A material
  // (git) trigger, when polling is built, must be kept here too (GoCD runs
  // the newest revision once unpaused); otherwise DoTrigger refuses it and
  // it is lost.
  if (spec.cause_kind == "manual" || !spec.upstream) return false;
  const store::PipelineRecord* c = model_->controls().Find(spec.pipeline);
  bool paused = c != nullptr && c->paused;
  int64_t holder = LockHolder(spec.pipeline);
  if (!paused && holder == 0) return false;
  const store::MaterialRevisionRecord& up = *spec.upstream;
  // The newest upstream wins; an older run of the same upstream stage that
  // passes later (a re-run) does not replace a newer one.
  if (c != nullptr && c->waiting.upstream_pipeline == up.upstream_pipeline &&
      c->waiting.upstream_stage == up.upstream_stage &&
      std::make_pair(c->waiting.upstream_counter, c->waiting.upstream_stage_counter) >
          std::make_pair(up.upstream_counter, up.upstream_stage_counter)) {
    return true;
  }
  store::PipelineWaitingTrigger& w = model_->controls().Change(spec.pipeline).waiting;
  w.upstream_pipeline = up.upstream_pipeline;
  w.upstream_counter = up.upstream_counter;
  w.upstream_stage = up.upstream_stage;
  w.upstream_stage_counter = up.upstream_stage_counter;
  w.user = spec.user;
  w.message = spec.message;
  effects->events.push_back(absl::StrCat(
      spec.pipeline, " is ",
      paused ? "paused" : absl::StrCat("locked by ", spec.pipeline, "/", holder), ": the trigger (",
      spec.message, ") waits and runs when it is ", paused ? "unpaused" : "unlocked"));
  return true;
}

void Planner::RunWaiting(const std::string& pipeline) {
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c == nullptr || c->waiting.upstream_pipeline.empty()) return;
  if (c->paused || LockHolder(pipeline) != 0) return;
  Step step{Step::Kind::kTrigger, 0, {}};
  step.spec.pipeline = pipeline;
  step.spec.user = c->waiting.user;
  step.spec.cause_kind = "upstream";
  step.spec.message = c->waiting.message;
  store::MaterialRevisionRecord up;
  up.type = "pipeline";
  up.upstream_pipeline = c->waiting.upstream_pipeline;
  up.upstream_counter = c->waiting.upstream_counter;
  up.upstream_stage = c->waiting.upstream_stage;
  up.upstream_stage_counter = c->waiting.upstream_stage_counter;
  step.spec.upstream = up;
  model_->controls().Change(pipeline).waiting = {};
  work_.push_back(std::move(step));
}

void Planner::TakeLock(const RunEntry& run, bool stops_at_gate) {
  config::LockBehavior behavior = LockBehaviorOf(run.run.pipeline);
  if (behavior == config::LockBehavior::kNone) return;
  // unlockWhenFinished counts a run waiting at a manual gate as finished.
  if (stops_at_gate && behavior == config::LockBehavior::kUnlockWhenFinished) return;
  model_->controls().Change(run.run.pipeline).locked_by = run.run.counter;
}

void Planner::ReleaseLock(const std::string& pipeline, const std::string& why, Effects* effects) {
  store::PipelineRecord& c = model_->controls().Change(pipeline);
  effects->events.push_back(absl::StrCat("pipeline ", pipeline, " unlocked (held by ", pipeline,
                                         "/", c.locked_by, "; ", why, ")"));
  c.locked_by = 0;
  RunWaiting(pipeline);
}

void Planner::ReleaseLockAfter(const RunEntry& run, const store::StageRunRecord& stage,
                               Effects* effects) {
  // GoCD's ScheduleService.unlockIfNecessary: the end of the pipeline
  // (its last stage ends, whatever the result) always releases the lock;
  // unlockWhenFinished also releases it when a stage fails or is cancelled,
  // or passes before a manual gate. lockOnFailure keeps it then.
  const std::string& pipeline = run.run.pipeline;
  if (LockHolder(pipeline) != run.run.counter) return;
  const config::Pipeline* own = run.PipelineOf(stage);
  size_t next = static_cast<size_t>(stage.stage_index) + 1;
  bool last = own == nullptr || next >= own->stages.size();
  bool next_manual = !last && own->stages[next].approval.type == config::Approval::Type::kManual;
  bool stopped = stage.state != StageState::kPassed || next_manual;
  if (last) {
    ReleaseLock(pipeline, absl::StrCat("its last stage ", stage.name, " ", Name(stage.state)),
                effects);
  } else if (stopped && LockBehaviorOf(pipeline) == config::LockBehavior::kUnlockWhenFinished) {
    ReleaseLock(pipeline,
                absl::StrCat("stage ", stage.name, " ", Name(stage.state),
                             next_manual && stage.state == StageState::kPassed
                                 ? " and the next stage waits for approval"
                                 : ""),
                effects);
  }
}

absl::Status Planner::Pause(const std::string& pipeline, const std::string& user,
                            const std::string& reason) {
  RETURN_IF_ERROR(CheckPauseReason(reason));
  if (configs_->current()->FindPipeline(pipeline) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no pipeline named '", pipeline, "'"));
  }
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c != nullptr && c->paused) {
    return absl::FailedPreconditionError(
        absl::StrCat("pipeline ", pipeline, " is already ", PausedText(*c)));
  }
  store::PipelineRecord& row = model_->controls().Change(pipeline);
  row.paused = true;
  row.paused_by = user;
  row.paused_at = now_;
  row.pause_reason = reason;
  return absl::OkStatus();
}

absl::Status Planner::Unpause(const std::string& pipeline, const std::string& user,
                              Effects* effects) {
  const store::PipelineRecord* c = model_->controls().Find(pipeline);
  if (c == nullptr && configs_->current()->FindPipeline(pipeline) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no pipeline named '", pipeline, "'"));
  }
  if (c == nullptr || !c->paused) {
    return absl::FailedPreconditionError(absl::StrCat("pipeline ", pipeline, " is not paused"));
  }
  store::PipelineRecord& row = model_->controls().Change(pipeline);
  effects->events.push_back(
      absl::StrCat("pipeline ", pipeline, " unpaused by ", user, " (was ", PausedText(row), ")"));
  row.paused = false;
  row.paused_by.clear();
  row.paused_at = 0;
  row.pause_reason.clear();
  RunWaiting(pipeline);
  return Drain(effects);
}

absl::Status Planner::Unlock(const std::string& pipeline, const std::string& user,
                             Effects* effects) {
  // GoCD's PipelineUnlockApiService: only a lockable, locked pipeline whose
  // holding run has no stage in progress.
  if (configs_->current()->FindPipeline(pipeline) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no pipeline named '", pipeline, "'"));
  }
  if (LockBehaviorOf(pipeline) == config::LockBehavior::kNone) {
    return absl::FailedPreconditionError(
        absl::StrCat("pipeline ", pipeline, " has no lock (lock_behavior: none)"));
  }
  int64_t holder = LockHolder(pipeline);
  if (holder == 0) {
    return absl::FailedPreconditionError(absl::StrCat("pipeline ", pipeline, " is not locked"));
  }
  // Unfinished runs are all in memory; one that is not has ended.
  if (const RunEntry* run = model_->FindRun(pipeline, holder)) {
    for (const auto& [id, s] : run->stages) {
      if (!IsFinal(s.state)) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot unlock ", pipeline, ": its run ", pipeline, "/", holder,
                         " is still running (stage ", s.name, " is ", Name(s.state),
                         "); cancel the stage or let it end first"));
      }
    }
  }
  ReleaseLock(pipeline, absl::StrCat("unlocked by ", user), effects);
  return Drain(effects);
}

absl::Status Planner::ConfigChanged(Effects* effects) {
  std::vector<std::string> names;
  for (const auto& [name, c] : model_->controls().all()) names.push_back(name);
  for (const std::string& name : names) {
    const store::PipelineRecord& c = *model_->controls().Find(name);
    if (c.locked_by != 0 && LockBehaviorOf(name) == config::LockBehavior::kNone) {
      // GoCD releases the lock of a pipeline that is no longer lockable.
      ReleaseLock(name, "the config no longer locks it", effects);
    } else {
      RunWaiting(name);
    }
  }
  return Drain(effects);
}

}  // namespace gantry
