// The states of runs, stages, jobs and agents. Code works with these enums;
// their spellings exist only at the edges: the store (state columns, each
// with a CHECK constraint listing exactly these) and the wire (protobuf
// strings shown to operators).
#pragma once

#include <optional>
#include <string_view>

namespace gantry {

enum class RunState { kBuilding, kAwaitingApproval, kPassed, kFailed, kCancelled };

// kQueued: waiting behind the same stage of an earlier run (one active run
// per stage, like a train).
enum class StageState { kQueued, kBuilding, kPassed, kFailed, kCancelled };

// One row per attempt: scheduled -> assigned -> running -> passed | failed |
// cancelled, or lost when its agent went silent.
enum class JobState { kScheduled, kAssigned, kRunning, kPassed, kFailed, kCancelled, kLost };

// An agent as configured by operators (not whether it is connected).
enum class AgentConfigState { kPending, kEnabled, kDisabled };

const char* Name(RunState s);
const char* Name(StageState s);
const char* Name(JobState s);
const char* Name(AgentConfigState s);

std::optional<RunState> ParseRunState(std::string_view s);
std::optional<StageState> ParseStageState(std::string_view s);
std::optional<JobState> ParseJobState(std::string_view s);
std::optional<AgentConfigState> ParseAgentConfigState(std::string_view s);

// passed, failed, cancelled or lost: the attempt will never change again.
inline bool IsFinal(JobState s) {
  return s == JobState::kPassed || s == JobState::kFailed || s == JobState::kCancelled ||
         s == JobState::kLost;
}
inline bool IsFinal(StageState s) { return s != StageState::kQueued && s != StageState::kBuilding; }
// Held by an agent: it was assigned and may be running.
inline bool IsHeld(JobState s) { return s == JobState::kAssigned || s == JobState::kRunning; }

}  // namespace gantry
