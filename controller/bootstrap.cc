#include "controller/bootstrap.h"

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

std::string ReadTrimmed(const std::string& path) {
  auto content = ReadFile(path);
  if (!content.ok()) return "";
  return std::string(absl::StripAsciiWhitespace(*content));
}

TokenInfo Info(const store::ApiTokenRecord& t) {
  TokenInfo info{t.id, t.user_name, t.name, absl::InfiniteFuture()};
  if (t.expires_at != 0) info.expires_at = absl::FromUnixMillis(t.expires_at);
  return info;
}

}  // namespace

absl::StatusOr<BootstrapResult> Bootstrap(store::Db& db, const std::string& data_dir,
                                          TokenRegistry* tokens) {
  const std::string token_path = data_dir + "/admin.token";
  const std::string key_path = data_dir + "/agent-register.key";

  std::string admin_token = ReadTrimmed(token_path);
  std::string register_key = ReadTrimmed(key_path);
  bool new_token = false, new_key = register_key.empty();
  if (new_key) register_key = RandomHex(24);

  std::vector<store::ApiTokenRecord> all;
  RETURN_IF_ERROR(db.Run("Bootstrap", [&](store::Tx& tx) {
    all = tx.ApiTokens();
    bool known = false;
    std::string hash = admin_token.empty() ? "" : Sha256Hex(admin_token);
    for (const auto& t : all) known |= t.token_hash == hash;
    new_token = !known;
    if (new_token) {
      admin_token = RandomHex(32);
      store::ApiTokenRecord t;
      t.user_name = kBootstrapAdmin;
      t.name = "bootstrap";
      t.token_hash = Sha256Hex(admin_token);
      t.created_by = kBootstrapAdmin;
      t.id = tx.InsertApiToken(t);
      all.push_back(t);
    }
    // The key file is authoritative: editing it rotates the key.
    tx.SetSetting("agent_register_key_sha256", Sha256Hex(register_key));
    return absl::OkStatus();
  }));
  if (new_token) {
    RETURN_IF_ERROR(WriteFileAtomic(token_path, admin_token + "\n", 0600));
    spdlog::info("wrote a new admin token to {}", token_path);
  }
  if (new_key) {
    RETURN_IF_ERROR(WriteFileAtomic(key_path, register_key + "\n", 0600));
    spdlog::info("wrote the agent register key to {}", key_path);
  }
  for (const auto& t : all) tokens->Add(t.token_hash, Info(t));
  return BootstrapResult{Sha256Hex(register_key)};
}

absl::Status LoadApiTokens(store::Db& db, TokenRegistry* tokens) {
  std::vector<store::ApiTokenRecord> all;
  RETURN_IF_ERROR(db.Run("LoadApiTokens", [&](store::Tx& tx) {
    all = tx.ApiTokens();
    return absl::OkStatus();
  }));
  absl::flat_hash_map<std::string, TokenInfo> by_hash;
  for (const auto& t : all) by_hash[t.token_hash] = Info(t);
  tokens->ReplaceAll(std::move(by_hash));
  return absl::OkStatus();
}

}  // namespace gantry
