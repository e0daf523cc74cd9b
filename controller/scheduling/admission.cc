#include "controller/scheduling/admission.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"

namespace gantry {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

Scoped Scope(const std::vector<std::string>& requested, const std::vector<std::string>& allowed,
             const std::optional<std::vector<std::string>>& assigned) {
  Scoped out;
  if (assigned) {
    out.granted = *assigned;
    for (const auto& r : requested) {
      if (!Contains(*assigned, r)) out.refused.push_back(r);
    }
    return out;
  }
  bool anything = Contains(allowed, kAnything);
  for (const auto& r : requested) {
    (anything || Contains(allowed, r) ? out.granted : out.refused).push_back(r);
  }
  return out;
}

AgentScope ScopeOf(const store::AgentRecord& agent) {
  AgentScope s;
  s.resources = Scope(agent.requested_resources, agent.allowed_resources, agent.assigned_resources);
  s.environments =
      Scope(agent.requested_environments, agent.allowed_environments, agent.assigned_environments);
  return s;
}

AgentScope ApplyScope(store::AgentRecord& agent) {
  AgentScope s = ScopeOf(agent);
  agent.resources = s.resources.granted;
  agent.environments = s.environments.granted;
  return s;
}

absl::Status CleanList(std::vector<std::string>& list, const char* what, bool allow_anything) {
  if (list.size() > kMaxListItems) {
    return absl::InvalidArgumentError(
        absl::StrCat(list.size(), " ", what, "s given: at most ", kMaxListItems));
  }
  for (const auto& item : list) {
    if (allow_anything && item == kAnything) continue;
    if (!IsValidName(item)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", what, " '", item.substr(0, 80),
                       "': use letters, digits, '-', '_' and '.' (at most 255)",
                       allow_anything ? ", or '*' for any" : ""));
    }
  }
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  return absl::OkStatus();
}

std::vector<std::string> ValidNames(std::vector<std::string> list) {
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const std::string& item) { return !IsValidName(item); }),
             list.end());
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  if (list.size() > kMaxListItems) list.resize(kMaxListItems);
  return list;
}

std::string SourceHost(const std::string& peer) {
  std::string rest;
  if (absl::StartsWith(peer, "ipv4:")) {
    rest = peer.substr(5);
  } else if (absl::StartsWith(peer, "ipv6:")) {
    rest = peer.substr(5);
  } else {
    return peer;
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || (rest.front() == '[' && colon < rest.rfind(']'))) return rest;
  return rest.substr(0, colon);
}

TokenBucket::TokenBucket(double capacity, absl::Time now)
    : capacity_(capacity), tokens_(capacity), last_(now) {}

bool TokenBucket::Available(absl::Time now) {
  if (now > last_) {
    tokens_ = std::min(capacity_, tokens_ + capacity_ * absl::ToDoubleMinutes(now - last_));
    last_ = now;
  }
  return tokens_ >= 1;
}

absl::Status RegisterLimiter::Admit(const std::string& source, absl::Time now) {
  if (!total_) total_.emplace(limits_.total_per_minute, now);
  auto it = per_source_.find(source);
  if (it == per_source_.end() && per_source_.size() >= kMaxSources) {
    for (auto j = per_source_.begin(); j != per_source_.end();) {
      j = j->second.Available(now) && j->second.full() ? per_source_.erase(j) : std::next(j);
    }
  }
  if (it == per_source_.end() && per_source_.size() < kMaxSources) {
    it = per_source_.emplace(source, TokenBucket(limits_.per_source_per_minute, now)).first;
  }
  if (it != per_source_.end() && !it->second.Available(now)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many registrations without a valid register key from ", source, " (at most ",
        limits_.per_source_per_minute, " a minute): retry later, or register with a key"));
  }
  if (!total_->Available(now)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many registrations without a valid register key (at most ", limits_.total_per_minute,
        " a minute from all addresses): retry later, or register with a key"));
  }
  if (it != per_source_.end()) it->second.Take();
  total_->Take();
  return absl::OkStatus();
}

}  // namespace gantry
