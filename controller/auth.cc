#include "controller/auth.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/crypto.h"

namespace gantry {

bool Principal::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

void TokenRegistry::Add(const std::string& token_hash, TokenInfo info) {
  absl::MutexLock lock(&mu_);
  by_hash_[token_hash] = std::move(info);
}

void TokenRegistry::Remove(int64_t token_id) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(by_hash_, [&](const auto& entry) { return entry.second.id == token_id; });
}

void TokenRegistry::ReplaceAll(absl::flat_hash_map<std::string, TokenInfo> tokens) {
  absl::MutexLock lock(&mu_);
  by_hash_ = std::move(tokens);
}

std::optional<TokenInfo> TokenRegistry::Authenticate(const std::string& token,
                                                     absl::Time now) const {
  if (token.empty()) return std::nullopt;
  // Hashing first makes the lookup independent of how much of a guess matched.
  std::string hash = Sha256Hex(token);
  absl::MutexLock lock(&mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || it->second.expires_at <= now) return std::nullopt;
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
