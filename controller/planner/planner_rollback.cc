// `gantry rollback ENV`: the typed way back (docs/rollback.md). It is a
// re-run of an earlier deploy's stage (planner_rerun.cc), so it runs with
// that run's config revision, materials, variables and stored artifacts,
// plus two records: the rollback itself (who, why, from which run to which)
// and a mark on the version it took out, so that no upstream stage deploys
// that version into the environment again until someone clears the mark.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/planner/deploy_scope.h"
#include "controller/planner/planner.h"

namespace gantry {
namespace {

constexpr size_t kMaxReasonBytes = 1000;
// How far back a rollback looks for the version to go back to.
constexpr int64_t kHistoryDepth = 1000;

absl::Status CheckReason(const std::string& reason, const std::string& what) {
  if (reason.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " needs a reason (--reason): it is recorded with the rollback"));
  }
  if (reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason is ", reason.size(), " bytes; at most ", kMaxReasonBytes));
  }
  for (unsigned char c : reason) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return absl::InvalidArgumentError("reason must be one line of text (no control characters)");
    }
  }
  return absl::OkStatus();
}

std::string Locator(const store::DeploymentRecord& d) {
  return absl::StrCat(d.pipeline, "/", d.counter);
}

}  // namespace

absl::StatusOr<RollbackOutcome> Planner::Rollback(const RollbackSpec& spec, Effects* effects) {
  const std::string what = absl::StrCat("rollback of environment '", spec.environment, "'");
  RETURN_IF_ERROR(CheckReason(spec.reason, what));
  auto config = configs_->current();
  const config::Environment* env = config->FindEnvironment(spec.environment);
  if (env == nullptr) {
    return absl::NotFoundError(absl::StrCat("no environment named '", spec.environment,
                                            "' in config revision ", configs_->current_revision()));
  }
  if (!spec.to_pipeline.empty() && !env->HasPipeline(spec.to_pipeline)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot roll back ", spec.environment, " to ", spec.to_pipeline, "/", spec.to_counter,
        ": pipeline '", spec.to_pipeline, "' is not in the environment"));
  }
  DeployScope scope = DeployScopeOf(*config, *env, [](const std::string&) { return true; });
  ASSIGN_OR_RETURN(auto history,
                   cold_->Deployments(scope.pipelines, scope.deploy_stages, kHistoryDepth));
  if (history.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("nothing has been deployed into ",
                                                      spec.environment,
                                                      " yet: there is nothing to roll back"));
  }
  const store::DeploymentRecord& current = history.front();
  const store::DeploymentRecord* target = nullptr;
  if (!spec.to_pipeline.empty()) {
    for (const auto& d : history) {
      if (d.pipeline == spec.to_pipeline && d.counter == spec.to_counter) {
        target = &d;  // its newest deploy
        break;
      }
    }
    if (target == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot roll back ", spec.environment, " to ", spec.to_pipeline, "/", spec.to_counter,
          ": that run never deployed into it (`gantry env history ", spec.environment, "`)"));
    }
    if (target->run_id == current.run_id) {
      return absl::FailedPreconditionError(absl::StrCat("cannot roll back ", spec.environment,
                                                        " to ", Locator(*target),
                                                        ": it is what is deployed there now"));
    }
  } else {
    // The last good version: the newest deploy of another run that no
    // rollback took out.
    for (const auto& d : history) {
      if (d.run_id == current.run_id) continue;
      if (model_->bad_versions().FindByRun(spec.environment, d.run_id) != nullptr) continue;
      target = &d;
      break;
    }
    if (target == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot roll back ", spec.environment, ": no earlier deploy of another run ",
                       "that is not marked bad; name one with --to P/N"));
    }
  }
  ASSIGN_OR_RETURN(int64_t run_id,
                   Rerun(target->pipeline, target->counter, target->stage, spec.user, effects));
  RunEntry* run = model_->FindRun(run_id);
  int64_t attempt = 0;
  for (const auto& [id, s] : run->stages) {
    if (s.name == target->stage) attempt = id;  // by id: the re-run is the newest
  }
  store::RollbackRecord rollback;
  rollback.environment = spec.environment;
  rollback.stage_run_id = attempt;
  rollback.from_run_id = current.run_id;
  rollback.to_run_id = target->run_id;
  rollback.by = spec.user;
  rollback.reason = spec.reason;
  rollback.at = now_;
  model_->AddRollback(rollback);
  store::BadVersionRecord mark;
  mark.environment = spec.environment;
  mark.run_id = current.run_id;
  mark.pipeline = current.pipeline;
  mark.counter = current.counter;
  mark.label = current.label;
  ASSIGN_OR_RETURN(auto rows, cold_->LoadRun(current.pipeline, current.counter));
  if (rows) mark.materials = rows->materials;
  mark.marked_by = spec.user;
  mark.reason = spec.reason;
  mark.marked_at = now_;
  RollbackOutcome outcome{run_id, current, *target, mark.materials, run->materials};
  model_->bad_versions().Mark(std::move(mark));
  effects->events.push_back(absl::StrCat("rollback of ", spec.environment, " by ", spec.user, ": ",
                                         Locator(current), " -> ", Locator(*target), " (",
                                         spec.reason, ")"));
  return outcome;
}

absl::StatusOr<std::vector<store::BadVersionRecord>> Planner::ClearBadVersions(
    const std::string& environment, const std::string& pipeline, int64_t counter,
    const std::string& user, const std::string& reason) {
  if (reason.size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason is ", reason.size(), " bytes; at most ", kMaxReasonBytes));
  }
  auto cleared = model_->bad_versions().Clear(environment, pipeline, counter, user, reason, now_);
  if (cleared.empty()) {
    return absl::NotFoundError(absl::StrCat("no version marked bad in ", environment, " is ",
                                            pipeline, "/", counter, " or came from it (`gantry ",
                                            "version list ", environment, "`)"));
  }
  return cleared;
}

absl::Status Planner::CheckBadVersions(
    const config::Pipeline& pipeline, const TriggerSpec& spec,
    const std::vector<store::MaterialRevisionRecord>& materials) const {
  const config::Environment* env = configs_->current()->EnvironmentOfPipeline(pipeline.name);
  if (env == nullptr) return absl::OkStatus();
  for (const auto& m : materials) {
    // An upstream run the operator named (`--revision build=12`) is their
    // decision; only what is taken without asking is held back.
    if (m.type != "pipeline" || spec.revisions.count(m.material)) continue;
    const store::BadVersionRecord* bad =
        model_->bad_versions().FindByUpstream(env->name, m.upstream_pipeline, m.upstream_counter);
    if (bad == nullptr) continue;
    return absl::FailedPreconditionError(
        absl::StrCat(m.upstream_pipeline, "/", m.upstream_counter, " is marked bad in ", env->name,
                     " (rolled back from ", bad->pipeline, "/", bad->counter, " by ",
                     bad->marked_by, ": ", bad->reason, "); name an upstream run with --revision ",
                     m.material, "=N, or clear the mark with `gantry version clear ", env->name,
                     " ", m.upstream_pipeline, "/", m.upstream_counter, "`"));
  }
  return absl::OkStatus();
}

}  // namespace gantry
