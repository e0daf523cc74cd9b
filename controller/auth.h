// Operator authentication: bearer tokens checked against SHA-256 hashes held
// in memory (loaded from PostgreSQL), so a gRPC thread never waits on SQL.
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace gantry {

struct Principal {
  std::string user;
  std::string role;  // admin | operator | viewer
};

class TokenRegistry {
 public:
  void Add(const std::string& token_hash, Principal principal);
  // The principal for a raw token, or nullopt.
  std::optional<Principal> Authenticate(const std::string& token) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Principal> by_hash_ ABSL_GUARDED_BY(mu_);
};

// Extracts the token from an "authorization" header value ("Bearer T").
std::optional<std::string> BearerToken(const std::string& header);

}  // namespace gantry
