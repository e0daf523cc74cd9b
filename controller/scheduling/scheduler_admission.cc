// Agent admission on the strand (docs/security.md, "Agent admission"):
// registration (register keys and their scopes, the limit on registrations
// without a valid key, the cap on pending agents, unique names), admins'
// assignments and deletions, and the scoped register keys themselves.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "controller/run_view.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return {r.begin(), r.end()};
}

std::string Listed(const std::vector<std::string>& list) {
  return list.empty() ? "none" : absl::StrJoin(list, ",");
}

// "refused resources x; environments prod", or "" when nothing was refused.
std::string RefusedNote(const AgentScope& scope) {
  std::vector<std::string> parts;
  if (!scope.resources.refused.empty()) {
    parts.push_back(absl::StrCat("resources ", Listed(scope.resources.refused)));
  }
  if (!scope.environments.refused.empty()) {
    parts.push_back(absl::StrCat("environments ", Listed(scope.environments.refused)));
  }
  return parts.empty() ? "" : absl::StrCat("refused ", absl::StrJoin(parts, "; "));
}

// A caller's string in messages and audit rows, cut short: a registration
// without a key may send anything.
std::string Shown(const std::string& s) {
  constexpr size_t kMax = 80;
  return s.size() <= kMax ? s : absl::StrCat(s.substr(0, kMax), "...");
}

v1::AgentKey KeyView(const store::AgentKeyRecord& k) {
  v1::AgentKey out;
  out.set_id(k.id);
  out.set_name(k.name);
  for (const auto& r : k.resources) out.add_resources(r);
  for (const auto& e : k.environments) out.add_environments(e);
  out.set_created_by(k.created_by);
  if (k.created_at > 0) SetTimestamp(k.created_at, out.mutable_created_at());
  if (k.revoked_at > 0) SetTimestamp(k.revoked_at, out.mutable_revoked_at());
  out.set_revoked_by(k.revoked_by);
  return out;
}

}  // namespace

void Scheduler::Audit(AuditEntry entry) {
  if (options_.audit != nullptr) options_.audit->Record(std::move(entry));
}

void Scheduler::AgentsChanged() {
  profiles_changed_ = true;
  Batch batch;
  Prepare(batch);
  Commit(batch);
}

absl::Status Scheduler::LoadAgentKeys() {
  if (agent_keys_) return absl::OkStatus();
  std::vector<store::AgentKeyRecord> keys;
  RETURN_IF_ERROR(db_->Run("AgentKeys", [&](store::Tx& tx) {
    keys = tx.AgentKeys(/*all=*/false);
    return absl::OkStatus();
  }));
  agent_keys_.emplace();
  for (auto& k : keys) (*agent_keys_)[k.key_hash] = std::move(k);
  return absl::OkStatus();
}

std::optional<store::AgentKeyRecord> Scheduler::RegisterKeyScope(const std::string& key) {
  if (key.empty()) return std::nullopt;
  std::string hash = Sha256Hex(key);
  // The bootstrap key is the controller's own secret, as strong as the
  // admin token: it admits an agent with whatever it asks for.
  if (ConstantTimeEquals(hash, options_.register_key_hash)) {
    store::AgentKeyRecord bootstrap;
    bootstrap.name = kBootstrapKeyName;
    bootstrap.resources = {kAnything};
    bootstrap.environments = {kAnything};
    return bootstrap;
  }
  // Looked up by its SHA-256: a guess learns nothing from the timing.
  auto it = agent_keys_->find(hash);
  if (it == agent_keys_->end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<v1::RegisterResponse> Scheduler::Admit(const v1::RegisterRequest& request,
                                                      const std::string& source,
                                                      AuditEntry& audit) {
  std::string name = request.name().empty() ? request.hostname() : request.name();
  audit.target = absl::StrCat("agent:", Shown(name));
  RETURN_IF_ERROR(LoadAgentKeys());
  std::optional<store::AgentKeyRecord> key = RegisterKeyScope(request.register_key());
  if (key) audit.actor = absl::StrCat("agent:", Shown(name));
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid agent name '", Shown(name),
                     "': use letters, digits, '-', '_' and '.' (at most 255)"));
  }
  if (request.hostname().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("hostname '", Shown(request.hostname()), "' is longer than 255 bytes"));
  }
  store::AgentRecord rec;
  rec.requested_resources = ToVector(request.resources());
  rec.requested_environments = ToVector(request.environments());
  RETURN_IF_ERROR(CleanList(rec.requested_resources, "resource"));
  RETURN_IF_ERROR(CleanList(rec.requested_environments, "environment"));
  if (AgentSession* taken = agents_.ByName(name)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "an agent named '", name, "' is already registered (id ", taken->record.id,
        "): start this one with another --name, or delete that one with 'gantry agent delete ",
        name, "'"));
  }
  if (!key && agents_.PendingCount() >= options_.max_pending_agents) {
    return absl::ResourceExhaustedError(absl::StrCat(
        options_.max_pending_agents,
        " agents are already waiting for approval (the controller's --max-pending-agents): an "
        "admin must approve or delete some first, or register with a valid register key"));
  }
  rec.id = RandomHex(16);
  rec.name = name;
  rec.hostname = request.hostname();
  std::string token = RandomHex(32);
  rec.token_hash = Sha256Hex(token);
  // Without a valid key: pending, and given nothing it asks for until an
  // admin approves it and assigns what it may have (gantry agent set).
  rec.state = key ? AgentConfigState::kEnabled : AgentConfigState::kPending;
  if (key) {
    rec.allowed_resources = key->resources;
    rec.allowed_environments = key->environments;
    rec.register_key = key->name;
  }
  AgentScope scope = ApplyScope(rec);
  RETURN_IF_ERROR(db_->Run("RegisterAgent", [&](store::Tx& tx) {
    tx.InsertAgent(rec);
    return absl::OkStatus();
  }));
  std::string refused = RefusedNote(scope);
  spdlog::info("agent {} registered as {} from {} ({}, key {}{}{})", name, rec.id, source,
               Name(rec.state), key ? key->name : "none", refused.empty() ? "" : "; ", refused);
  audit.reason = absl::StrCat(key ? absl::StrCat("key ", key->name) : "no valid key: pending",
                              refused.empty() ? "" : "; ", refused);
  v1::RegisterResponse response;
  response.set_agent_id(rec.id);
  response.set_token(token);
  response.set_state(std::string(Name(rec.state)));
  for (const auto& r : scope.resources.granted) response.add_resources(r);
  for (const auto& e : scope.environments.granted) response.add_environments(e);
  for (const auto& r : scope.resources.refused) response.add_refused_resources(r);
  for (const auto& e : scope.environments.refused) response.add_refused_environments(e);
  agents_.Add(std::move(rec)).offline_since = clock_->Now();
  profiles_changed_ = true;
  return response;
}

void Scheduler::Register(v1::RegisterRequest request, std::string source,
                         Reply<v1::RegisterResponse> done) {
  strand_.Post([this, request = std::move(request), source = std::move(source),
                done = std::move(done)] {
    // A registration without a valid key is limited before anything else
    // is done for it; refusals by the limiter are counted, not audited, so a
    // flood writes nothing at all.
    if (absl::Status st = LoadAgentKeys(); !st.ok()) return done(st);
    if (!RegisterKeyScope(request.register_key())) {
      absl::Time now = clock_->Now();
      if (absl::Status limited = register_limiter_.Admit(SourceHost(source), now); !limited.ok()) {
        ++limited_since_warning_;
        if (now - limited_warning_at_ >= absl::Minutes(1)) {
          spdlog::warn("refused {} registration(s) without a valid key in the last minute: {}",
                       limited_since_warning_, std::string(limited.message()));
          limited_warning_at_ = now;
          limited_since_warning_ = 0;
        }
        return done(limited);
      }
    }
    AuditEntry audit{"", source, "agent.register", "", AuditOutcome::kOk, ""};
    auto response = Admit(request, source, audit);
    if (!response.ok()) {
      audit.outcome = absl::IsUnavailable(response.status()) || absl::IsInternal(response.status())
                          ? AuditOutcome::kFailed
                          : AuditOutcome::kDenied;
      audit.reason = std::string(response.status().message());
    }
    Audit(std::move(audit));
    done(std::move(response));
  });
}

void Scheduler::SetAgent(v1::SetAgentRequest request, Reply<v1::Agent> done) {
  strand_.Post([this, request = std::move(request), done = std::move(done)] {
    auto found = agents_.Find(request.agent());
    if (!found.ok()) return done(found.status());
    AgentSession& agent = **found;
    store::AgentRecord updated = agent.record;
    if (request.has_resources() && request.reset_resources()) {
      return done(absl::InvalidArgumentError("give resources or reset them, not both"));
    }
    if (request.has_environments() && request.reset_environments()) {
      return done(absl::InvalidArgumentError("give environments or reset them, not both"));
    }
    if (request.has_resources()) {
      std::vector<std::string> list = ToVector(request.resources().values());
      if (absl::Status st = CleanList(list, "resource"); !st.ok()) return done(st);
      updated.assigned_resources = std::move(list);
    } else if (request.reset_resources()) {
      updated.assigned_resources.reset();
    }
    if (request.has_environments()) {
      std::vector<std::string> list = ToVector(request.environments().values());
      if (absl::Status st = CleanList(list, "environment"); !st.ok()) return done(st);
      updated.assigned_environments = std::move(list);
    } else if (request.reset_environments()) {
      updated.assigned_environments.reset();
    }
    ApplyScope(updated);
    absl::Status st = db_->Run("SetAgentAssignment", [&](store::Tx& tx) {
      tx.SetAgentAssignment(updated);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    agent.record = std::move(updated);
    spdlog::info("agent {} now has resources [{}] and environments [{}]", agent.record.name,
                 absl::StrJoin(agent.record.resources, ","),
                 absl::StrJoin(agent.record.environments, ","));
    // The agent hears what it has now (and logs what it was refused).
    if (agent.channel) agent.channel->Send(agents_.Welcome(agent, options_.heartbeat_interval));
    done(agents_.View(agent, clock_->Now(), options_.agent_lost_timeout));
    AgentsChanged();
  });
}

void Scheduler::DeleteAgent(v1::DeleteAgentRequest request, Principal who, Reply<v1::Agent> done) {
  strand_.Post([this, request = std::move(request), who = std::move(who), done = std::move(done)] {
    auto found = agents_.Find(request.agent());
    if (!found.ok()) return done(found.status());
    AgentSession& agent = **found;
    // Its job would be left to the lost-agent path; the admin decides first.
    if (agent.attempt != 0) {
      return done(absl::FailedPreconditionError(absl::StrCat(
          "agent ", agent.record.name, " is building ", agent.building,
          ": disable it and wait for the job to finish (or cancel the stage), then delete it")));
    }
    std::string id = agent.record.id;
    absl::Status st = db_->Run("DeleteAgent", [&](store::Tx& tx) {
      tx.DeleteAgent(id);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    v1::Agent view = agents_.View(agent, clock_->Now(), options_.agent_lost_timeout);
    view.set_status("deleted");
    view.set_connected(false);
    // NOT_FOUND tells a running agent to register again (agent/session.h).
    agents_.CloseSession(
        agent, absl::NotFoundError(absl::StrCat("agent deleted by ", who.user, ": register again")),
        clock_->Now());
    agents_.Remove(id);
    spdlog::info("agent {} ({}) deleted by {}", view.name(), id, who.user);
    done(std::move(view));
    AgentsChanged();
  });
}

void Scheduler::CreateAgentKey(v1::CreateAgentKeyRequest request, Principal who,
                               Reply<v1::CreateAgentKeyResponse> done) {
  strand_.Post([this, request = std::move(request), who = std::move(who), done = std::move(done)] {
    if (!request.name().empty() && !IsValidName(request.name())) {
      return done(absl::InvalidArgumentError(
          absl::StrCat("invalid key name '", request.name(),
                       "': use letters, digits, '-', '_' and '.' (at most 255)")));
    }
    if (request.name() == kBootstrapKeyName) {
      return done(absl::InvalidArgumentError("'bootstrap' is the name of DATA_DIR's own key"));
    }
    store::AgentKeyRecord key;
    key.name = request.name();
    key.resources = ToVector(request.resources());
    key.environments = ToVector(request.environments());
    if (absl::Status st = CleanList(key.resources, "resource", true); !st.ok()) return done(st);
    if (absl::Status st = CleanList(key.environments, "environment", true); !st.ok()) {
      return done(st);
    }
    if (absl::Status st = LoadAgentKeys(); !st.ok()) return done(st);
    for (const auto& [hash, k] : *agent_keys_) {
      if (k.name == key.name) {
        return done(absl::AlreadyExistsError(
            absl::StrCat("a register key named '", key.name, "' exists already")));
      }
    }
    std::string secret = RandomHex(32);
    key.key_hash = Sha256Hex(secret);
    key.created_by = who.user;
    absl::Status st = db_->Run("InsertAgentKey", [&](store::Tx& tx) {
      tx.InsertAgentKey(&key);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      // A revoked key keeps its name.
      if (!key.name.empty()) {
        st = absl::AlreadyExistsError(
            absl::StrCat("register key '", key.name, "' could not be created: ", st.message()));
      }
      return done(st);
    }
    spdlog::info("register key {} ({}) created by {}: resources [{}], environments [{}]", key.name,
                 key.id, who.user, absl::StrJoin(key.resources, ","),
                 absl::StrJoin(key.environments, ","));
    v1::CreateAgentKeyResponse response;
    response.set_key(secret);
    *response.mutable_info() = KeyView(key);
    (*agent_keys_)[key.key_hash] = std::move(key);
    done(std::move(response));
  });
}

void Scheduler::ListAgentKeys(v1::ListAgentKeysRequest request,
                              Reply<v1::ListAgentKeysResponse> done) {
  strand_.Post([this, request = std::move(request), done = std::move(done)] {
    std::vector<store::AgentKeyRecord> keys;
    absl::Status st = db_->Run("AgentKeys", [&](store::Tx& tx) {
      keys = tx.AgentKeys(request.all());
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    v1::ListAgentKeysResponse response;
    for (const auto& k : keys) *response.add_keys() = KeyView(k);
    done(std::move(response));
  });
}

void Scheduler::RevokeAgentKey(v1::RevokeAgentKeyRequest request, Principal who,
                               Reply<v1::AgentKey> done) {
  strand_.Post([this, request = std::move(request), who = std::move(who), done = std::move(done)] {
    if (absl::Status st = LoadAgentKeys(); !st.ok()) return done(st);
    auto it = agent_keys_->begin();
    for (; it != agent_keys_->end(); ++it) {
      if (it->second.name == request.key() || absl::StrCat(it->second.id) == request.key()) break;
    }
    if (it == agent_keys_->end()) {
      return done(absl::NotFoundError(
          absl::StrCat("no live register key with id or name '", request.key(), "'")));
    }
    store::AgentKeyRecord key = it->second;
    bool revoked = false;
    absl::Status st = db_->Run("RevokeAgentKey", [&](store::Tx& tx) {
      revoked = tx.RevokeAgentKey(key.id, who.user);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    agent_keys_->erase(it);
    if (!revoked)
      return done(
          absl::NotFoundError(absl::StrCat("register key ", key.name, " was revoked already")));
    // Agents that joined with it keep what they were given; the key only
    // admits no one new.
    spdlog::info("register key {} ({}) revoked by {}", key.name, key.id, who.user);
    key.revoked_at = absl::ToUnixMillis(clock_->Now());
    key.revoked_by = who.user;
    done(KeyView(key));
  });
}

}  // namespace gantry
