// Agents and their admission: the agent rows, admins' assignments and the
// scoped register keys (migration 0006). Lists are stored comma-separated.
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"
#include "controller/store/tx_rows.h"

namespace gantry::store {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    out.emplace_back(part);
  }
  return out;
}

std::string JoinList(const std::vector<std::string>& list) { return absl::StrJoin(list, ","); }

// NULL (not assigned) stays apart from an empty assignment.
std::optional<std::vector<std::string>> OptionalList(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return SplitList(f.as<std::string>());
}

std::optional<std::string> OptionalJoin(const std::optional<std::vector<std::string>>& list) {
  if (!list) return std::nullopt;
  return JoinList(*list);
}

}  // namespace

std::vector<AgentRecord> Tx::Agents() {
  std::vector<AgentRecord> out;
  for (const auto& r : work_.exec_prepared(kAgents)) {
    AgentRecord a;
    a.id = r[0].as<std::string>();
    a.name = r[1].as<std::string>();
    a.hostname = r[2].as<std::string>();
    a.token_hash = r[3].as<std::string>();
    a.state = AgentStateFromField(r[4]);
    a.resources = SplitList(r[5].as<std::string>());
    a.environments = SplitList(r[6].as<std::string>());
    a.created_at = r[7].as<int64_t>();
    a.last_contact = r[8].as<int64_t>();
    a.requested_resources = SplitList(r[9].as<std::string>());
    a.requested_environments = SplitList(r[10].as<std::string>());
    a.allowed_resources = SplitList(r[11].as<std::string>());
    a.allowed_environments = SplitList(r[12].as<std::string>());
    a.assigned_resources = OptionalList(r[13]);
    a.assigned_environments = OptionalList(r[14]);
    a.register_key = r[15].as<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

void Tx::InsertAgent(const AgentRecord& a) {
  work_.exec_prepared(kInsertAgent, a.id, a.name, a.hostname, a.token_hash,
                      std::string(Name(a.state)), JoinList(a.resources), JoinList(a.environments),
                      JoinList(a.requested_resources), JoinList(a.requested_environments),
                      JoinList(a.allowed_resources), JoinList(a.allowed_environments),
                      a.register_key);
}

void Tx::SetAgentState(const std::string& id, AgentConfigState state) {
  work_.exec_prepared(kSetAgentState, id, std::string(Name(state)));
}

void Tx::UpdateAgentInfo(const AgentRecord& a) {
  work_.exec_prepared(kUpdateAgentInfo, a.id, a.hostname, JoinList(a.requested_resources),
                      JoinList(a.requested_environments), JoinList(a.resources),
                      JoinList(a.environments));
}

void Tx::RecordAgentContacts(const std::vector<std::pair<std::string, int64_t>>& contacts) {
  if (contacts.empty()) return;
  std::string ids, times;
  for (const auto& [id, ms] : contacts) {
    absl::StrAppend(&ids, ids.empty() ? "" : ",", id);
    absl::StrAppend(&times, times.empty() ? "" : ",", ms);
  }
  work_.exec_prepared(kRecordAgentContacts, ids, times);
}

void Tx::SetAgentAssignment(const AgentRecord& a) {
  work_.exec_prepared(kSetAgentAssignment, a.id, OptionalJoin(a.assigned_resources),
                      OptionalJoin(a.assigned_environments), JoinList(a.resources),
                      JoinList(a.environments));
}

void Tx::DeleteAgent(const std::string& id) { work_.exec_prepared(kDeleteAgent, id); }

void Tx::InsertAgentKey(AgentKeyRecord* key) {
  auto r = work_.exec_prepared(kInsertAgentKey, key->name, key->key_hash, JoinList(key->resources),
                               JoinList(key->environments), key->created_by);
  key->id = r[0][0].as<int64_t>();
  key->name = r[0][1].as<std::string>();
  key->created_at = r[0][2].as<int64_t>();
}

std::vector<AgentKeyRecord> Tx::AgentKeys(bool all) {
  std::vector<AgentKeyRecord> out;
  for (const auto& r : work_.exec_prepared(kAgentKeys, all)) {
    AgentKeyRecord k;
    k.id = r[0].as<int64_t>();
    k.name = r[1].as<std::string>();
    k.key_hash = r[2].as<std::string>();
    k.resources = SplitList(r[3].as<std::string>());
    k.environments = SplitList(r[4].as<std::string>());
    k.created_by = r[5].as<std::string>();
    k.created_at = r[6].as<int64_t>();
    k.revoked_at = r[7].as<int64_t>();
    k.revoked_by = r[8].as<std::string>();
    out.push_back(std::move(k));
  }
  return out;
}

bool Tx::RevokeAgentKey(int64_t id, const std::string& by) {
  return !work_.exec_prepared(kRevokeAgentKey, id, by).empty();
}

}  // namespace gantry::store
