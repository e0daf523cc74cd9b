#include "controller/materials/poller_setup.h"

namespace gantry {

absl::StatusOr<std::unique_ptr<MaterialPoller>> MakeMaterialPoller(
    const std::string& data_dir, const std::string& database_url, absl::Duration interval,
    absl::Duration git_timeout, ConfigCache* configs, Scheduler* scheduler) {
  auto db = store::Db::Connect(database_url);
  if (!db.ok()) return db.status();
  PollerOptions options;
  options.mirror_root = data_dir + "/materials";
  options.interval = interval;
  options.git_timeout = git_timeout;
  auto poller = std::make_unique<MaterialPoller>(
      options, configs, std::move(*db),
      [scheduler](TriggerSpec spec, std::function<void(absl::StatusOr<v1::PipelineRun>)> done) {
        scheduler->TriggerForMaterial(std::move(spec), std::move(done));
      });
  MaterialPoller* p = poller.get();
  scheduler->SetGitMaterials(
      p, [p](TriggerSpec spec, std::function<void(absl::StatusOr<TriggerSpec>)> done) {
        p->ResolveTrigger(std::move(spec), std::move(done));
      });
  return poller;
}

}  // namespace gantry
