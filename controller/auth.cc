#include "controller/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/crypto.h"

namespace gantry {

void TokenRegistry::Add(const std::string& token_hash, Principal principal) {
  absl::MutexLock lock(&mu_);
  by_hash_[token_hash] = std::move(principal);
}

std::optional<Principal> TokenRegistry::Authenticate(const std::string& token) const {
  if (token.empty()) return std::nullopt;
  // Hashing first makes the lookup independent of how much of a guess matched.
  std::string hash = Sha256Hex(token);
  absl::MutexLock lock(&mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> BearerToken(const std::string& header) {
  constexpr char kPrefix[] = "Bearer ";
  if (!absl::StartsWithIgnoreCase(header, kPrefix)) return std::nullopt;
  std::string token(absl::StripAsciiWhitespace(header.substr(sizeof(kPrefix) - 1)));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace gantry
