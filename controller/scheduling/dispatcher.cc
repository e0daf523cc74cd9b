#include "controller/scheduling/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "controller/scheduling/queue_depth.h"

namespace gantry {

void Dispatcher::Enqueue(QueuedJob job) {
  int64_t id = job.job_run_id;
  queue_[id].job = std::move(job);
}

std::vector<Dispatcher::Pairing> Dispatcher::Pair(AgentRegistry& agents, size_t max) const {
  std::vector<Pairing> out;
  if (queue_.empty()) return out;
  // Profiles of the idle agents only, computed once per pass.
  std::vector<std::pair<AgentSession*, AgentProfile>> idle;
  for (auto& [id, a] : agents.all()) {
    if (a.idle()) idle.emplace_back(&a, agents.ProfileOf(a));
  }
  for (const auto& [attempt, entry] : queue_) {
    if (idle.empty() || out.size() >= max) break;
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      if (!Matches(entry.job.requirements, it->second)) continue;
      out.push_back({it->first, entry.job});
      idle.erase(it);
      break;
    }
  }
  return out;
}

std::vector<std::pair<int64_t, std::string>> Dispatcher::WaitingReasons(
    const AgentRegistry& agents) {
  std::vector<std::pair<int64_t, std::string>> changed;
  int64_t no_match = 0, offline = 0, busy = 0;
  auto publish = [&] {
    QueueDepth& depth = GlobalQueueDepth();
    depth.no_matching_agent.store(no_match, std::memory_order_relaxed);
    depth.agents_offline.store(offline, std::memory_order_relaxed);
    depth.agents_busy.store(busy, std::memory_order_relaxed);
  };
  if (queue_.empty()) {
    publish();
    return changed;
  }
  std::vector<AgentProfile> profiles;
  std::vector<const AgentSession*> sessions;
  for (const auto& [id, a] : agents.all()) {
    profiles.push_back(agents.ProfileOf(a));
    sessions.push_back(&a);
  }
  for (auto& [attempt, entry] : queue_) {
    const JobRequirements& req = entry.job.requirements;
    bool any_match = false, any_connected = false;
    for (size_t i = 0; i < profiles.size(); ++i) {
      if (!Matches(req, profiles[i])) continue;
      any_match = true;
      any_connected |= sessions[i]->channel != nullptr;
    }
    std::string pinned;
    for (const auto* s : sessions) {
      if (!req.agent_id.empty() && s->record.id == req.agent_id) pinned = s->record.name;
    }
    std::string reason =
        !any_match ? "waiting: " + ExplainNoMatch(req, profiles)
        : !any_connected
            ? (pinned.empty() ? "waiting: every matching agent is offline"
                              : absl::StrCat("waiting: its agent ", pinned, " is offline"))
            : (pinned.empty() ? "waiting for a free agent"
                              : absl::StrCat("waiting for its agent ", pinned, " to be free"));
    no_match += !any_match;
    offline += any_match && !any_connected;
    busy += any_match && any_connected;
    if (reason != entry.reason) {
      entry.reason = reason;
      changed.emplace_back(attempt, reason);
    }
  }
  publish();
  return changed;
}

std::vector<std::pair<int64_t, std::string>> Dispatcher::Stranded(AgentRegistry& agents,
                                                                  absl::Time now,
                                                                  absl::Duration grace) const {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& [attempt, entry] : queue_) {
    const std::string& pin = entry.job.requirements.agent_id;
    if (pin.empty()) continue;
    AgentSession* agent = agents.ById(pin);
    if (agent == nullptr) {
      out.emplace_back(attempt, "run_instances: all, but its agent no longer exists");
    } else if (agent->offline_since != absl::InfinitePast() && now - agent->offline_since > grace) {
      out.emplace_back(
          attempt,
          absl::StrCat("run_instances: all, but its agent ", agent->record.name,
                       agent->enabled() ? " did not come back within " : " stayed disabled for ",
                       absl::FormatDuration(grace)));
    }
  }
  return out;
}

}  // namespace gantry
