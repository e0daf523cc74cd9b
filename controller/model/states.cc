#include "controller/model/states.h"

#include <array>
#include <utility>

namespace gantry {
namespace {

// One table per enum, in declaration order, so Name and Parse cannot disagree.
constexpr std::array<const char*, 5> kRunNames = {"building", "awaiting_approval", "passed",
                                                  "failed", "cancelled"};
constexpr std::array<const char*, 5> kStageNames = {"queued", "building", "passed", "failed",
                                                    "cancelled"};
constexpr std::array<const char*, 7> kJobNames = {"scheduled", "assigned",  "running", "passed",
                                                  "failed",    "cancelled", "lost"};
constexpr std::array<const char*, 3> kAgentNames = {"pending", "enabled", "disabled"};

template <typename E, size_t N>
std::optional<E> ParseIn(const std::array<const char*, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* Name(RunState s) { return kRunNames[static_cast<size_t>(s)]; }
const char* Name(StageState s) { return kStageNames[static_cast<size_t>(s)]; }
const char* Name(JobState s) { return kJobNames[static_cast<size_t>(s)]; }
const char* Name(AgentConfigState s) { return kAgentNames[static_cast<size_t>(s)]; }

std::optional<RunState> ParseRunState(std::string_view s) {
  return ParseIn<RunState>(kRunNames, s);
}
std::optional<StageState> ParseStageState(std::string_view s) {
  return ParseIn<StageState>(kStageNames, s);
}
std::optional<JobState> ParseJobState(std::string_view s) {
  return ParseIn<JobState>(kJobNames, s);
}
std::optional<AgentConfigState> ParseAgentConfigState(std::string_view s) {
  return ParseIn<AgentConfigState>(kAgentNames, s);
}

}  // namespace gantry
