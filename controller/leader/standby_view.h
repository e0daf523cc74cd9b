// What a standby serves reads from, kept current while it stands by: the
// API tokens (so tokens made on the leader work here) and the config in
// force (so permissions and views follow the leader's applies).
#pragma once

#include "absl/status/status.h"
#include "controller/auth.h"
#include "controller/config_cache.h"
#include "controller/store/db.h"

namespace gantry {

// Reads both, writing nothing; `db` is a connection of the lease's thread.
absl::Status RefreshStandbyView(store::Db& db, TokenRegistry* tokens, ConfigCache* configs);

}  // namespace gantry
