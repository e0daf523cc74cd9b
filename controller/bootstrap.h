// First-start secrets: the admin token (DIR/admin.token) and the agent
// auto-register key (DIR/agent-register.key), both mode 0600. Only their
// SHA-256 hashes are stored in PostgreSQL.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "controller/auth.h"
#include "controller/store/db.h"

namespace gantry {

// The user of the bootstrap token: an admin whatever the config says, so a
// config that names no admins (or the wrong ones) never locks everyone out.
inline constexpr char kBootstrapAdmin[] = "admin";

struct BootstrapResult {
  std::string register_key_hash;
};

// Ensures both files exist and match the database (a missing or stale token
// file gets a fresh token), then loads every API token into `tokens`.
absl::StatusOr<BootstrapResult> Bootstrap(store::Db& db, const std::string& data_dir,
                                          TokenRegistry* tokens);

// Loads every API token into `tokens`, replacing what it held, and writes
// nothing: what a standby does at start and at each poll.
absl::Status LoadApiTokens(store::Db& db, TokenRegistry* tokens);

}  // namespace gantry
