#include "controller/scheduling/agent_registry.h"

#include "absl/strings/str_cat.h"
#include "controller/run_view.h"
#include "controller/scheduling/admission.h"

namespace gantry {

void AgentRegistry::Load(std::vector<store::AgentRecord> records, absl::Time now) {
  for (auto& r : records) Add(std::move(r)).offline_since = now;
}

AgentSession& AgentRegistry::Add(store::AgentRecord record) {
  std::string id = record.id;
  AgentSession& a = agents_[id];
  a.record = std::move(record);
  return a;
}

AgentSession* AgentRegistry::ById(const std::string& id) {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

AgentSession* AgentRegistry::ByChannel(const AgentChannel* channel) {
  auto it = by_channel_.find(channel);
  return it == by_channel_.end() ? nullptr : ById(it->second);
}

AgentSession* AgentRegistry::ByName(const std::string& name) {
  // Names are unique (migration 0006); a linear scan is fine for the
  // operator calls and registrations that ask.
  for (auto& [id, agent] : agents_) {
    if (agent.record.name == name) return &agent;
  }
  return nullptr;
}

absl::StatusOr<AgentSession*> AgentRegistry::Find(const std::string& id_or_name) {
  if (AgentSession* a = ById(id_or_name)) return a;
  if (AgentSession* a = ByName(id_or_name)) return a;
  return absl::NotFoundError(absl::StrCat("no agent with id or name '", id_or_name, "'"));
}

void AgentRegistry::Remove(const std::string& id) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return;
  if (it->second.channel) by_channel_.erase(it->second.channel.get());
  agents_.erase(it);
}

int AgentRegistry::PendingCount() const {
  int n = 0;
  for (const auto& [id, a] : agents_) n += a.record.state == AgentConfigState::kPending;
  return n;
}

void AgentRegistry::Attach(AgentSession& agent, std::shared_ptr<AgentChannel> channel,
                           absl::Time now) {
  if (agent.channel && agent.channel != channel) {
    by_channel_.erase(agent.channel.get());
    agent.channel->Close(absl::AbortedError("replaced by a newer session"));
  }
  by_channel_[channel.get()] = agent.record.id;
  agent.channel = std::move(channel);
  agent.last_contact = std::max(agent.last_contact, now);
  if (agent.enabled()) agent.offline_since = absl::InfinitePast();
  agent.lost = false;
}

AgentSession* AgentRegistry::Detach(const AgentChannel* channel, absl::Time now) {
  auto it = by_channel_.find(channel);
  if (it == by_channel_.end()) return nullptr;
  AgentSession* agent = ById(it->second);
  by_channel_.erase(it);
  if (agent == nullptr || agent->channel.get() != channel) return nullptr;
  agent->channel.reset();
  if (agent->offline_since == absl::InfinitePast()) agent->offline_since = now;
  return agent;
}

void AgentRegistry::CloseSession(AgentSession& agent, const absl::Status& why, absl::Time now) {
  if (!agent.channel) return;
  by_channel_.erase(agent.channel.get());
  agent.channel->Close(why);
  agent.channel.reset();
  if (agent.offline_since == absl::InfinitePast()) agent.offline_since = now;
}

void AgentRegistry::Touch(const AgentChannel* channel, absl::Time received) {
  if (AgentSession* a = ByChannel(channel)) a->last_contact = std::max(a->last_contact, received);
}

void AgentRegistry::SetState(AgentSession& agent, AgentConfigState state, absl::Time now) {
  agent.record.state = state;
  bool available = agent.enabled() && agent.channel;
  if (available) {
    agent.offline_since = absl::InfinitePast();
  } else if (agent.offline_since == absl::InfinitePast()) {
    agent.offline_since = now;
  }
}

void AgentRegistry::RestartClocks(absl::Time now) {
  for (auto& [id, a] : agents_) {
    if (a.attempt != 0) a.last_contact = std::max(a.last_contact, now);
    if (!a.channel) a.offline_since = std::max(a.offline_since, now);
  }
}

AgentProfile AgentRegistry::ProfileOf(const AgentSession& agent) const {
  AgentProfile p;
  p.id = agent.record.id;
  p.name = agent.record.name;
  p.enabled = agent.enabled();
  p.resources = agent.record.resources;
  auto config = configs_->current();
  for (const auto& e : agent.record.environments) {
    if (config->FindEnvironment(e) != nullptr) p.environments.insert(e);
  }
  for (const auto& env : config->environments) {
    for (const auto& a : env.agents) {
      if (a == agent.record.name || a == agent.record.id) p.environments.insert(env.name);
    }
  }
  return p;
}

std::vector<AgentProfile> AgentRegistry::Profiles() const {
  std::vector<AgentProfile> out;
  for (const auto& [id, a] : agents_) out.push_back(ProfileOf(a));
  return out;
}

std::vector<AgentSession*> AgentRegistry::Silent(absl::Time now, absl::Duration timeout) {
  std::vector<AgentSession*> out;
  for (auto& [id, a] : agents_) {
    if (a.lost || (!a.channel && a.attempt == 0)) continue;
    if (now - a.last_contact > timeout) out.push_back(&a);
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> AgentRegistry::UnrecordedContacts() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [id, a] : agents_) {
    if (a.last_contact == absl::InfinitePast()) continue;
    int64_t ms = absl::ToUnixMillis(a.last_contact);
    if (ms > a.recorded_contact_ms) out.emplace_back(id, ms);
  }
  return out;
}

void AgentRegistry::MarkRecorded(const std::vector<std::pair<std::string, int64_t>>& contacts) {
  for (const auto& [id, ms] : contacts) {
    if (AgentSession* a = ById(id)) a->recorded_contact_ms = ms;
  }
}

std::map<std::string, std::string> AgentRegistry::Names() const {
  std::map<std::string, std::string> out;
  for (const auto& [id, a] : agents_) out[id] = a.record.name;
  return out;
}

v1::Agent AgentRegistry::View(const AgentSession& agent, absl::Time now,
                              absl::Duration lost_timeout) const {
  v1::Agent out;
  out.set_id(agent.record.id);
  out.set_name(agent.record.name);
  out.set_hostname(agent.record.hostname);
  out.set_config_state(std::string(Name(agent.record.state)));
  out.set_connected(agent.channel != nullptr);
  std::string status;
  if (agent.record.state == AgentConfigState::kPending) {
    status = "pending";
  } else if (agent.record.state == AgentConfigState::kDisabled) {
    status = agent.attempt != 0 ? "building" : "disabled";
  } else if (agent.lost || (agent.channel && now - agent.last_contact > lost_timeout)) {
    // Silent past the timeout: lost now, even before the next tick acts on it.
    status = "lost";
  } else if (!agent.channel) {
    status = "offline";
  } else {
    status = agent.attempt != 0 ? "building" : "idle";
  }
  out.set_status(status);
  if (agent.attempt != 0) out.set_building(agent.building);
  for (const auto& r : agent.record.resources) out.add_resources(r);
  for (const auto& e : agent.record.environments) out.add_environments(e);
  int64_t last = agent.last_contact == absl::InfinitePast()
                     ? agent.record.last_contact
                     : absl::ToUnixMillis(agent.last_contact);
  if (last > 0) SetTimestamp(last, out.mutable_last_contact());
  AgentScope scope = ScopeOf(agent.record);
  for (const auto& r : agent.record.requested_resources) out.add_requested_resources(r);
  for (const auto& e : agent.record.requested_environments) out.add_requested_environments(e);
  for (const auto& r : scope.resources.refused) out.add_refused_resources(r);
  for (const auto& e : scope.environments.refused) out.add_refused_environments(e);
  out.set_register_key(agent.record.register_key);
  out.set_resources_assigned(agent.record.assigned_resources.has_value());
  out.set_environments_assigned(agent.record.assigned_environments.has_value());
  return out;
}

v1::ControllerMessage AgentRegistry::Welcome(const AgentSession& agent,
                                             absl::Duration heartbeat) const {
  v1::ControllerMessage m;
  m.mutable_welcome()->set_agent_id(agent.record.id);
  m.mutable_welcome()->set_state(std::string(Name(agent.record.state)));
  m.mutable_welcome()->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(heartbeat)));
  AgentScope scope = ScopeOf(agent.record);
  v1::Welcome* w = m.mutable_welcome();
  for (const auto& r : scope.resources.granted) w->add_resources(r);
  for (const auto& e : scope.environments.granted) w->add_environments(e);
  for (const auto& r : scope.resources.refused) w->add_refused_resources(r);
  for (const auto& e : scope.environments.refused) w->add_refused_environments(e);
  return m;
}

}  // namespace gantry
