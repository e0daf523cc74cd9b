#include "controller/leader/standby_view.h"

#include "common/status_macros.h"
#include "controller/bootstrap.h"
#include "controller/store/tx.h"

namespace gantry {

absl::Status RefreshStandbyView(store::Db& db, TokenRegistry* tokens, ConfigCache* configs) {
  RETURN_IF_ERROR(LoadApiTokens(db, tokens));
  int64_t revision = 0;
  std::shared_ptr<const config::Config> config;
  RETURN_IF_ERROR(db.Run("StandbyConfig", [&](store::Tx& tx) -> absl::Status {
    revision = tx.CurrentConfigRevision();
    if (revision == 0 || revision == configs->current_revision()) return absl::OkStatus();
    ASSIGN_OR_RETURN(config, configs->Get(tx, revision));
    return absl::OkStatus();
  }));
  if (config) configs->SetCurrent(revision, std::move(config));
  return absl::OkStatus();
}

}  // namespace gantry
