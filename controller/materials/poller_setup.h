// Wires the material poller into the controller: its own database
// connection, triggers into the scheduler's inbox, and the scheduler's view
// of fetched heads and --revision resolution. Call before Scheduler::Start;
// start the poller once the controller serves.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/config_cache.h"
#include "controller/materials/material_poller.h"
#include "controller/scheduling/scheduler.h"

namespace gantry {

absl::StatusOr<std::unique_ptr<MaterialPoller>> MakeMaterialPoller(
    const std::string& data_dir, const std::string& database_url, absl::Duration interval,
    absl::Duration git_timeout, ConfigCache* configs, Scheduler* scheduler);

}  // namespace gantry
