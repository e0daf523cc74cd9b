// Operator authentication: bearer tokens checked against SHA-256 hashes held
// in memory (loaded from PostgreSQL), so a gRPC thread never waits on SQL.
// What a caller may do is decided by the Authorizer (controller/authz.h)
// from the current config's `security` section.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gantry {

// Who is calling, resolved per call: the token's user, then the admin flag
// and roles from the config current at that moment.
struct Principal {
  std::string user;
  bool admin = false;              // the bootstrap admin, or in security.admins
  std::vector<std::string> roles;  // the security.roles that list the user
  std::string source;              // the caller's address, for the audit log
  int64_t token_id = 0;
  std::string token_name;
  absl::Time token_expires_at = absl::InfiniteFuture();

  bool HasRole(std::string_view role) const;
};

// One operator token as the registry holds it (never the token itself).
struct TokenInfo {
  int64_t id = 0;
  std::string user;
  std::string name;
  absl::Time expires_at = absl::InfiniteFuture();
};

class TokenRegistry {
 public:
  void Add(const std::string& token_hash, TokenInfo info);
  void Remove(int64_t token_id);
  // Everything the registry holds becomes `tokens` (by hash): a standby
  // follows the leader's token changes this way.
  void ReplaceAll(absl::flat_hash_map<std::string, TokenInfo> tokens);
  // The token's owner for a raw token that is known and unexpired at `now`.
  std::optional<TokenInfo> Authenticate(const std::string& token, absl::Time now) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, TokenInfo> by_hash_ ABSL_GUARDED_BY(mu_);
};

// Extracts the token from an "authorization" header value ("Bearer T").
std::optional<std::string> BearerToken(const std::string& header);

}  // namespace gantry
