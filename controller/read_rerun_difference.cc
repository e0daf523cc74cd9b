// `gantry stage rerun --with-current-config` shows first what today's config
// changes for the run: the pipeline as text under both revisions, diffed.
#include "absl/strings/str_cat.h"
#include "common/config/pipeline_text.h"
#include "common/status_macros.h"
#include "common/text_diff.h"
#include "controller/read_service.h"
#include "controller/store/tx.h"

namespace gantry {

void ReadService::RerunConfigDifference(v1::StageRequest request,
                                        Reply<v1::RerunConfigDifferenceResponse> done) {
  WithDb([this, request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::RerunConfigDifferenceResponse response;
    absl::Status st = db.Run("RerunConfigDifference", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      const std::string& name = request.pipeline();
      auto run = tx.FindPipelineRun(name, request.counter());
      if (!run) {
        return absl::NotFoundError(
            absl::StrCat("pipeline '", name, "' has no run ", request.counter()));
      }
      ASSIGN_OR_RETURN(auto own, configs_->Get(tx, run->config_revision));
      int64_t today_revision = configs_->current_revision();
      std::shared_ptr<const config::Config> today = configs_->current();
      const config::Pipeline* before = own->FindPipeline(name);
      const config::Pipeline* after = today->FindPipeline(name);
      if (before == nullptr) return absl::InternalError("the run's pipeline is not in its config");
      if (after == nullptr) {
        return absl::NotFoundError(absl::StrCat(
            "pipeline '", name, "' is not in the current config (revision ", today_revision, ")"));
      }
      if (after->FindStage(request.stage()) == nullptr) {
        return absl::NotFoundError(absl::StrCat("stage '", request.stage(), "' of pipeline '", name,
                                                "' is not in the current config (revision ",
                                                today_revision, ")"));
      }
      response.set_run_revision(run->config_revision);
      response.set_current_revision(today_revision);
      response.set_difference(
          UnifiedDiff(absl::StrCat(name, " (config revision ", run->config_revision, " -> ",
                                   today_revision, ")"),
                      config::PipelineText(*before, own->EnvironmentOfPipeline(name)),
                      config::PipelineText(*after, today->EnvironmentOfPipeline(name))));
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(std::move(response));
  });
}

}  // namespace gantry
