// Agent admission rules, free of I/O (docs/security.md, "Agent admission"):
// what of an agent's requested resources and environments takes effect,
// and the token buckets that limit registrations without a valid key.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/store/records.h"

namespace gantry {

// In a register key's scope: any resource, or any environment.
inline constexpr char kAnything[] = "*";
// The register_key of agents that joined with DATA_DIR/agent-register.key.
inline constexpr char kBootstrapKeyName[] = "bootstrap";

// What of one list (resources or environments) takes effect.
struct Scoped {
  std::vector<std::string> granted;
  std::vector<std::string> refused;  // requested, not granted
};

// `assigned` when an admin set it; otherwise `requested` cut to `allowed`
// ("*" in `allowed`: all of it).
Scoped Scope(const std::vector<std::string>& requested, const std::vector<std::string>& allowed,
             const std::optional<std::vector<std::string>>& assigned);

struct AgentScope {
  Scoped resources;
  Scoped environments;
};

// Scope() of both lists of `agent`; ApplyScope also sets its resources and
// environments (what matching reads) to what was granted.
AgentScope ScopeOf(const store::AgentRecord& agent);
AgentScope ApplyScope(store::AgentRecord& agent);

// Resources or environments an agent or a key may name at most: a
// registration without a key may send anything, and it is stored.
inline constexpr size_t kMaxListItems = 100;

// Sorted, without duplicates. INVALID_ARGUMENT naming `what` ("resource")
// for more than kMaxListItems items, or for an item that is not a valid name
// (common/names.h), or not "*" when `allow_anything`.
absl::Status CleanList(std::vector<std::string>& list, const char* what,
                       bool allow_anything = false);

// The valid names of `list` (common/names.h), sorted, without duplicates,
// the first kMaxListItems:
// what an agent's hello asks for, where a bad item is dropped, not an error.
std::vector<std::string> ValidNames(std::vector<std::string> list);

// The host of a gRPC peer ("ipv4:10.0.0.5:43122" -> "10.0.0.5",
// "ipv6:[::1]:5000" -> "[::1]"); other peers as they are.
std::string SourceHost(const std::string& peer);

// `capacity` tokens, refilled continuously at `capacity` a minute.
class TokenBucket {
 public:
  TokenBucket(double capacity, absl::Time now);
  bool Available(absl::Time now);
  void Take() { tokens_ -= 1; }
  bool full() const { return tokens_ >= capacity_; }

 private:
  double capacity_;
  double tokens_;
  absl::Time last_;
};

struct RegisterLimits {
  // Registrations without a valid key, a minute (and at once: the bucket's
  // size), from one address and from all addresses together.
  int per_source_per_minute = 10;
  int total_per_minute = 60;
};

// Limits registrations without a valid key; one with a key is not limited.
class RegisterLimiter {
 public:
  explicit RegisterLimiter(RegisterLimits limits) : limits_(limits) {}

  // OK and one token taken from both buckets, or RESOURCE_EXHAUSTED saying
  // which limit was hit (and nothing taken).
  absl::Status Admit(const std::string& source, absl::Time now);

  // Addresses tracked at most; past it, full buckets are forgotten and new
  // addresses count against the total only.
  static constexpr size_t kMaxSources = 10000;

 private:
  RegisterLimits limits_;
  std::optional<TokenBucket> total_;
  std::unordered_map<std::string, TokenBucket> per_source_;
};

}  // namespace gantry
