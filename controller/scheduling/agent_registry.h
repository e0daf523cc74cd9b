// Every agent the controller knows, its open session (if any), the attempt
// it holds, and when it was last heard from. Strand-only, no SQL: the
// scheduler writes agent rows and asks the registry what they mean.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/agent_channel.h"
#include "controller/config_cache.h"
#include "controller/matching.h"
#include "controller/store/records.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

struct AgentSession {
  store::AgentRecord record;
  std::shared_ptr<AgentChannel> channel;  // null while disconnected
  int64_t attempt = 0;                    // the job run it holds, 0 if idle
  std::string building;                   // "P/N/S/C/J" of that job
  absl::Time last_contact = absl::InfinitePast();
  // Since when it has been unable to take work (no session, or disabled),
  // for pinned jobs waiting on it; InfinitePast while it can.
  absl::Time offline_since = absl::InfinitePast();
  int64_t recorded_contact_ms = 0;  // last_contact as last written (Unix ms)
  bool lost = false;                // went silent; cleared by its next hello
  // The Hello.session_nonce of the process its session belongs to: that
  // process may replace its session, another may not while it is open.
  std::string session_nonce;
  // When a clone's refusal was last written to the audit log (once a minute).
  absl::Time clone_audited_at = absl::InfinitePast();

  bool enabled() const { return record.state == AgentConfigState::kEnabled; }
  bool idle() const { return channel && attempt == 0 && enabled(); }
};

class AgentRegistry {
 public:
  explicit AgentRegistry(ConfigCache* configs) : configs_(configs) {}

  void Load(std::vector<store::AgentRecord> records, absl::Time now);
  AgentSession& Add(store::AgentRecord record);

  AgentSession* ById(const std::string& id);
  AgentSession* ByChannel(const AgentChannel* channel);
  AgentSession* ByName(const std::string& name);
  // By id, or by name.
  absl::StatusOr<AgentSession*> Find(const std::string& id_or_name);
  // Forgets an agent that holds no attempt; its session must be closed.
  void Remove(const std::string& id);
  int PendingCount() const;
  std::map<std::string, AgentSession>& all() { return agents_; }
  const std::map<std::string, AgentSession>& all() const { return agents_; }

  // The session `channel` now speaks for `agent`; an older one is closed.
  void Attach(AgentSession& agent, std::shared_ptr<AgentChannel> channel, absl::Time now);
  // The stream ended; returns the agent it belonged to, if still current.
  AgentSession* Detach(const AgentChannel* channel, absl::Time now);
  // Ends every session (shutdown, or the agent lost).
  void CloseSession(AgentSession& agent, const absl::Status& why, absl::Time now);
  void Touch(const AgentChannel* channel, absl::Time received);
  // An operator enabled or disabled it.
  void SetState(AgentSession& agent, AgentConfigState state, absl::Time now);
  // Agents holding an attempt get a full timeout from `now` before being
  // lost: after a restart, counted from when the controller serves again.
  void RestartClocks(absl::Time now);

  AgentProfile ProfileOf(const AgentSession& agent) const;
  std::vector<AgentProfile> Profiles() const;
  // Agents silent for more than `timeout` at `now` that count (connected,
  // or holding an attempt), not yet marked lost.
  std::vector<AgentSession*> Silent(absl::Time now, absl::Duration timeout);
  // Contacts newer than what was last written (Unix ms).
  std::vector<std::pair<std::string, int64_t>> UnrecordedContacts() const;
  void MarkRecorded(const std::vector<std::pair<std::string, int64_t>>& contacts);
  // id -> name, for views.
  std::map<std::string, std::string> Names() const;

  v1::Agent View(const AgentSession& agent, absl::Time now, absl::Duration lost_timeout) const;
  v1::ControllerMessage Welcome(const AgentSession& agent, absl::Duration heartbeat) const;

 private:
  ConfigCache* configs_;
  std::map<std::string, AgentSession> agents_;  // by id
  std::unordered_map<const AgentChannel*, std::string> by_channel_;
};

}  // namespace gantry
