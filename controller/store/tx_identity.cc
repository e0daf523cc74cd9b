// Operator tokens and the audit log.
#include <pqxx/pqxx>

#include "controller/store/pg_array.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

ApiTokenRecord TokenFromRow(const pqxx::row& row) {
  ApiTokenRecord t;
  t.id = row[0].as<int64_t>();
  t.user_name = row[1].as<std::string>();
  t.name = row[2].as<std::string>();
  t.token_hash = row[3].as<std::string>();
  t.created_by = row[4].as<std::string>();
  t.created_at = row[5].as<int64_t>();
  t.expires_at = row[6].as<int64_t>();
  return t;
}

}  // namespace

int64_t Tx::InsertApiToken(const ApiTokenRecord& token) {
  auto r = work_.exec_prepared(kInsertApiToken, token.user_name, token.name, token.token_hash,
                               token.created_by, token.expires_at);
  return r[0][0].as<int64_t>();
}

std::vector<ApiTokenRecord> Tx::ApiTokens() {
  std::vector<ApiTokenRecord> out;
  for (const auto& row : work_.exec_prepared(kApiTokens)) out.push_back(TokenFromRow(row));
  return out;
}

std::optional<ApiTokenRecord> Tx::RevokeApiToken(int64_t id, const std::string& by) {
  auto r = work_.exec_prepared(kRevokeApiToken, id, by);
  if (r.empty()) return std::nullopt;
  return TokenFromRow(r[0]);
}

void Tx::AppendAudit(const std::vector<AuditRecord>& rows) {
  if (rows.empty()) return;
  PgArray at, actor, source, action, target, outcome, reason;
  for (const AuditRecord& a : rows) {
    at.Add(a.at);
    actor.Add(a.actor);
    source.Add(a.source);
    action.Add(a.action);
    target.Add(a.target);
    outcome.Add(a.outcome);
    reason.Add(a.reason);
  }
  work_.exec_prepared(kAppendAudit, at.str(), actor.str(), source.str(), action.str(),
                      target.str(), outcome.str(), reason.str());
}

std::vector<AuditRecord> Tx::ReadAudit(const AuditQuery& query) {
  std::vector<AuditRecord> out;
  for (const auto& row : work_.exec_prepared(kReadAudit, query.since, query.actor,
                                             query.pipeline, query.limit)) {
    AuditRecord a;
    a.id = row[0].as<int64_t>();
    a.at = row[1].as<int64_t>();
    a.actor = row[2].as<std::string>();
    a.source = row[3].as<std::string>();
    a.action = row[4].as<std::string>();
    a.target = row[5].as<std::string>();
    a.outcome = row[6].as<std::string>();
    a.reason = row[7].as<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace gantry::store
