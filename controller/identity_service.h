// Operator tokens and the audit log behind the operator API: creating,
// listing and revoking tokens (hashed in PostgreSQL, live ones mirrored in
// the TokenRegistry), and reading the audit log. Work runs on a connection
// of its own, never on gRPC threads. Callers have checked who may do what.
#pragma once

#include <memory>

#include "controller/auth.h"
#include "controller/db_pool.h"
#include "controller/scheduling/scheduler.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

class IdentityService {
 public:
  IdentityService(std::unique_ptr<store::Db> db, TokenRegistry* tokens);

  // `request.user()` is already resolved ("" replaced by the caller).
  void CreateToken(v1::CreateTokenRequest request, std::string created_by,
                   Reply<v1::CreateTokenResponse> done);
  // user "" = everyone's.
  void ListTokens(std::string user, Reply<v1::ListTokensResponse> done);
  // Revokes token `id` if `may_revoke(owner)` allows (owner = its user).
  void RevokeToken(int64_t id, std::string by,
                   std::function<absl::Status(const std::string& owner)> may_revoke,
                   Reply<v1::Token> done);
  void ListAudit(v1::ListAuditRequest request, Reply<v1::ListAuditResponse> done);

  void Stop();

 private:
  TokenRegistry* tokens_;
  DbPool pool_;
};

}  // namespace gantry
