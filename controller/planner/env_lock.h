// The environment deploy lock (`environments.E.lock: true`): one run of all
// of E's pipelines builds at a time (docs/config.md, "Environments").
//
// It is derived from the runs, never stored, so it survives a restart with
// them: a run of a pipeline in E *holds* E's lock while it is building and
// its newest stage attempt is not queued (from the moment its first stage
// starts, through the instant between one stage passing and the next
// starting, until the run ends or stops at a manual gate). A run *waits*
// while its newest stage attempt is queued; waiters start in the order
// their stages were queued (arrival order).
//
// Which environment a pipeline is in, and whether it is locked, comes from
// the current config, as for where its jobs may run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/model.h"
#include "controller/planner/run_model.h"

namespace gantry {

// The environment `pipeline` is in, if it has `lock: true`; else nullptr.
const config::Environment* LockedEnvironmentOf(const config::Config& config,
                                               const std::string& pipeline);

// Whether `run` holds its environment's lock (see above; a run with no
// stage yet does not).
bool HoldsEnvLock(const RunEntry& run);

// The run holding `env`'s lock, or nullptr.
const RunEntry* EnvLockHolder(const RunModel& model, const config::Environment& env);

// The queued stage attempts of `env`'s pipelines, in arrival order (queued
// at, then id): the lock's queue.
std::vector<int64_t> EnvLockQueue(const RunModel& model, const config::Environment& env);

// "waiting for the prod deploy lock held by deploy/7", shown on a waiting
// stage.
std::string EnvLockWaitReason(const std::string& env, const std::string& holder);

}  // namespace gantry
