#include "controller/planner/env_lock.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/planner/planner.h"

namespace gantry {
namespace {

// The run's newest stage attempt (ids grow with time), or nullptr.
const store::StageRunRecord* NewestStage(const RunEntry& run) {
  return run.stages.empty() ? nullptr : &run.stages.rbegin()->second;
}

}  // namespace

const config::Environment* LockedEnvironmentOf(const config::Config& config,
                                               const std::string& pipeline) {
  const config::Environment* env = config.EnvironmentOfPipeline(pipeline);
  return env != nullptr && env->lock ? env : nullptr;
}

bool HoldsEnvLock(const RunEntry& run) {
  if (run.run.state != RunState::kBuilding) return false;
  const store::StageRunRecord* newest = NewestStage(run);
  return newest != nullptr && newest->state != StageState::kQueued;
}

const RunEntry* EnvLockHolder(const RunModel& model, const config::Environment& env) {
  for (const auto& [id, run] : model.runs()) {
    if (env.HasPipeline(run.run.pipeline) && HoldsEnvLock(run)) return &run;
  }
  return nullptr;
}

std::vector<int64_t> EnvLockQueue(const RunModel& model, const config::Environment& env) {
  std::vector<std::pair<int64_t, int64_t>> queued;  // (queued at, stage id)
  for (const auto& [id, run] : model.runs()) {
    if (run.run.state != RunState::kBuilding || !env.HasPipeline(run.run.pipeline)) continue;
    const store::StageRunRecord* newest = NewestStage(run);
    if (newest != nullptr && newest->state == StageState::kQueued) {
      queued.emplace_back(newest->created_at, newest->id);
    }
  }
  std::sort(queued.begin(), queued.end());
  std::vector<int64_t> out;
  for (const auto& [at, id] : queued) out.push_back(id);
  return out;
}

std::string EnvLockWaitReason(const std::string& env, const std::string& holder) {
  if (holder.empty()) return absl::StrCat("waiting for the ", env, " deploy lock");
  return absl::StrCat("waiting for the ", env, " deploy lock held by ", holder);
}

// --- the planner's part: queue on the way in, start the next on release.

bool Planner::EnvLockBlocks(const RunEntry& run, std::string* reason) const {
  const config::Environment* env = LockedEnvironmentOf(*configs_->current(), run.run.pipeline);
  if (env == nullptr) return false;
  // A holder goes on to its next stage: it keeps the lock between stages.
  if (HoldsEnvLock(run)) return false;
  const RunEntry* holder = EnvLockHolder(*model_, *env);
  // Someone already waiting goes first (arrival order), even when the lock
  // was released earlier in this batch and the next has not started yet.
  if (holder == nullptr && EnvLockQueue(*model_, *env).empty()) return false;
  *reason = EnvLockWaitReason(
      env->name, holder ? absl::StrCat(holder->run.pipeline, "/", holder->run.counter) : "");
  return true;
}

void Planner::NoteEnvLockRelease(const RunEntry& run) {
  if (const auto* env = LockedEnvironmentOf(*configs_->current(), run.run.pipeline)) {
    env_released_.insert(env->name);
  }
}

void Planner::StartEnvLockWaiters(Effects* effects) {
  std::set<std::string> envs = std::move(env_released_);
  env_released_.clear();
  auto config = configs_->current();
  for (const std::string& name : envs) {
    const config::Environment* env = config->FindEnvironment(name);
    if (env == nullptr || !env->lock || EnvLockHolder(*model_, *env) != nullptr) continue;
    for (int64_t stage_id : EnvLockQueue(*model_, *env)) {
      RunEntry* run = model_->RunOfStage(stage_id);
      const store::StageRunRecord& stage = run->stages.at(stage_id);
      // The same stage of an earlier run still building (the lock was
      // switched on meanwhile): that train goes first.
      bool train_busy = false;
      for (int64_t other : model_->ActiveStages(stage.pipeline, stage.name)) {
        train_busy |= model_->FindStage(other)->state == StageState::kBuilding;
      }
      if (train_busy) continue;
      effects->events.push_back(absl::StrCat(run->run.pipeline, "/", run->run.counter,
                                             " takes the ", name, " deploy lock"));
      StartStage(*run, stage_id, effects);
      break;
    }
  }
}

}  // namespace gantry
