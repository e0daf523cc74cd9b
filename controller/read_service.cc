#include "controller/read_service.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/controls_view.h"
#include "controller/job_lookup.h"
#include "controller/model/states.h"
#include "controller/retention/removed_notice.h"
#include "controller/run_view.h"
#include "controller/store/tx.h"
#include "controller/vsm_view.h"

namespace gantry {
namespace {

constexpr int64_t kMaxLogSlice = 1 << 20;

AgentNames ReadAgentNames(store::Tx& tx) {
  AgentNames names;
  for (const auto& a : tx.Agents()) names[a.id] = a.name;
  return names;
}

}  // namespace

ReadService::ReadService(std::vector<std::unique_ptr<store::Db>> connections,
                         ConfigCache* configs)
    : configs_(configs), pool_(std::move(connections)) {}

ReadService::~ReadService() { Stop(); }

void ReadService::Stop() { pool_.Stop(); }

void ReadService::WithDb(std::function<void(store::Db&)> fn) { pool_.WithDb(std::move(fn)); }

absl::Status ReadService::CheckPipelineKnown(store::Tx& tx, const std::string& pipeline) {
  if (configs_->current()->FindPipeline(pipeline) != nullptr) return absl::OkStatus();
  if (tx.GetPipeline(pipeline)) return absl::OkStatus();  // removed from config, runs remain
  return absl::NotFoundError(absl::StrCat("no pipeline named '", pipeline, "'"));
}

void ReadService::ListPipelines(Reply<v1::ListPipelinesResponse> done) {
  WithDb([this, done = std::move(done)](store::Db& db) {
    auto config = configs_->current();
    v1::ListPipelinesResponse response;
    absl::Status st = db.Run("ListPipelines", [&](store::Tx& tx) {
      response.Clear();
      for (const auto& p : config->pipelines) {
        auto* s = response.add_pipelines();
        s->set_name(p.name);
        s->set_group(p.group);
        for (const auto& stage : p.stages) s->add_stages(stage.name);
        if (auto run = tx.FindPipelineRun(p.name, 0)) {
          s->set_latest_counter(run->counter);
          s->set_latest_label(run->label);
          s->set_latest_state(std::string(Name(run->state)));
        }
        auto rec = tx.GetPipeline(p.name);
        if (rec) s->set_paused(rec->paused);
        BuildControlsView(p.name, rec ? &*rec : nullptr, *config, s->mutable_controls());
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::History(v1::PipelineHistoryRequest request,
                          Reply<v1::PipelineHistoryResponse> done) {
  WithDb([this, request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::PipelineHistoryResponse response;
    absl::Status st = db.Run("PipelineHistory", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      RETURN_IF_ERROR(CheckPipelineKnown(tx, request.pipeline()));
      int limit = request.limit() > 0 ? std::min(request.limit(), 1000) : 20;
      AgentNames names = ReadAgentNames(tx);
      for (const auto& run : tx.PipelineHistory(request.pipeline(), limit)) {
        ASSIGN_OR_RETURN(auto config, configs_->Get(tx, run.config_revision));
        BuildRunView(tx, run, config.get(), names, response.add_runs());
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::GetPipelineRun(v1::GetPipelineRunRequest request,
                                 Reply<v1::PipelineRun> done) {
  WithDb([this, request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::PipelineRun response;
    absl::Status st = db.Run("GetPipelineRun", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      RETURN_IF_ERROR(CheckPipelineKnown(tx, request.pipeline()));
      auto run = tx.FindPipelineRun(request.pipeline(), request.counter());
      if (!run) {
        return absl::NotFoundError(
            request.counter() > 0
                ? absl::StrCat("pipeline '", request.pipeline(), "' has no run ",
                               request.counter())
                : absl::StrCat("pipeline '", request.pipeline(), "' has never run"));
      }
      ASSIGN_OR_RETURN(auto config, configs_->Get(tx, run->config_revision));
      BuildRunView(tx, *run, config.get(), ReadAgentNames(tx), &response);
      // The pipeline's pause and lock now, under today's config.
      auto rec = tx.GetPipeline(request.pipeline());
      BuildControlsView(request.pipeline(), rec ? &*rec : nullptr, *configs_->current(),
                        response.mutable_controls());
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::GetPipelineVsm(v1::GetPipelineRunRequest request,
                                 Reply<v1::PipelineVsm> done) {
  WithDb([this, request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::PipelineVsm response;
    absl::Status st = db.Run("GetPipelineVsm", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      RETURN_IF_ERROR(CheckPipelineKnown(tx, request.pipeline()));
      auto run = tx.FindPipelineRun(request.pipeline(), request.counter());
      if (!run) {
        return absl::NotFoundError(
            absl::StrCat("pipeline '", request.pipeline(), "' has no run ", request.counter()));
      }
      BuildVsm(tx, *run, &response);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::GetJobLog(v1::GetJobLogRequest request, Reply<v1::GetJobLogResponse> done) {
  WithDb([this, request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::GetJobLogResponse response;
    absl::Status st = db.Run("GetJobLog", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      RETURN_IF_ERROR(CheckPipelineKnown(tx, request.pipeline()));
      ASSIGN_OR_RETURN(JobLookup found,
                       FindJob(tx, request.pipeline(), request.counter(), request.stage(),
                               request.stage_counter(), request.job()));
      RETURN_IF_ERROR(CheckFilesKept(tx, found, "console log"));
      const store::JobRunRecord* job = &found.job;
      int64_t offset = std::max<int64_t>(0, request.offset());
      // A job copied into a re-run of failed jobs shows the console of the
      // attempt that ran it.
      store::ConsoleSlice slice = tx.ReadConsole(job->OutputAttempt(), offset, kMaxLogSlice);
      response.set_data(slice.data);
      response.set_next_offset(slice.next_offset);
      response.set_state(std::string(Name(job->state)));
      response.set_complete(IsFinal(job->state) &&
                            slice.next_offset >= job->console_bytes);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::ShowConfig(v1::ShowConfigRequest request,
                             Reply<v1::ShowConfigResponse> done) {
  WithDb([request = std::move(request), done = std::move(done)](store::Db& db) {
    v1::ShowConfigResponse response;
    absl::Status st = db.Run("ShowConfig", [&](store::Tx& tx) -> absl::Status {
      response.Clear();
      int64_t revision = request.revision() > 0 ? request.revision() : tx.CurrentConfigRevision();
      if (revision == 0) return absl::NotFoundError("no config has been applied yet");
      auto rec = tx.GetConfigRevision(revision);
      if (!rec) return absl::NotFoundError(absl::StrCat("no config revision ", revision));
      response.set_revision(rec->revision);
      response.set_author(rec->author);
      SetTimestamp(rec->created_at, response.mutable_created_at());
      response.set_diff(rec->diff);
      store::ConfigRevisionSource source = tx.GetConfigRevisionSource(revision);
      response.set_config_repo(source.config_repo);
      response.set_config_repo_commit(source.commit);
      for (const auto& f : rec->files) {
        auto* file = response.add_files();
        file->set_path(f.path);
        file->set_content(f.content);
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(response);
  });
}

void ReadService::GetEnvironment(v1::GetEnvironmentRequest request,
                                 Reply<v1::EnvironmentView> done) {
  auto config = configs_->current();
  const config::Environment* env = config->FindEnvironment(request.name());
  if (env == nullptr) {
    return done(absl::NotFoundError(
        absl::StrCat("no environment named '", request.name(), "' in the config")));
  }
  v1::EnvironmentView view;
  view.set_name(env->name);
  view.set_lock(env->lock);
  for (const auto& p : env->pipelines) view.add_pipelines(p);
  if (!env->lock) return done(std::move(view));
  WithDb([view = std::move(view), done = std::move(done)](store::Db& db) mutable {
    std::vector<std::string> pipelines(view.pipelines().begin(), view.pipelines().end());
    absl::Status st = db.Run("GetEnvironment", [&](store::Tx& tx) -> absl::Status {
      view.clear_holder();
      view.clear_queue();
      if (auto holder = tx.EnvLockHolder(pipelines)) {
        view.set_holder(absl::StrCat(holder->first, "/", holder->second));
      }
      for (const auto& w : tx.EnvLockQueue(pipelines)) {
        v1::EnvLockWaiter* out = view.add_queue();
        out->set_pipeline(w.pipeline);
        out->set_counter(w.counter);
        out->set_stage(w.stage);
        SetTimestamp(w.queued_at, out->mutable_since());
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(std::move(view));
  });
}

void ReadService::ListDeployedEnvironments(MayViewPipeline may_view,
                                           Reply<v1::ListDeployedEnvironmentsResponse> done) {
  WithDb([this, may_view = std::move(may_view), done = std::move(done)](store::Db& db) {
    auto config = configs_->current();
    v1::ListDeployedEnvironmentsResponse response;
    absl::Status st = db.Run("ListDeployedEnvironments", [&](store::Tx& tx) {
      response = ReadDeployedEnvironments(tx, *config, may_view);
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(std::move(response));
  });
}

void ReadService::EnvironmentHistory(v1::EnvironmentHistoryRequest request,
                                     MayViewPipeline may_view,
                                     Reply<v1::EnvironmentHistoryResponse> done) {
  auto config = configs_->current();
  if (config->FindEnvironment(request.name()) == nullptr) {
    return done(absl::NotFoundError(
        absl::StrCat("no environment named '", request.name(), "' in the config")));
  }
  WithDb([config, request = std::move(request), may_view = std::move(may_view),
          done = std::move(done)](store::Db& db) {
    const config::Environment& env = *config->FindEnvironment(request.name());
    DeployScope scope = DeployScopeOf(*config, env, may_view);
    int64_t limit = request.limit() > 0 ? request.limit() : 100;
    v1::EnvironmentHistoryResponse response;
    absl::Status st = db.Run("EnvironmentHistory", [&](store::Tx& tx) {
      response.Clear();
      response.set_name(env.name);
      for (auto& d : ReadDeployments(tx, env, scope, limit)) {
        *response.add_deployments() = std::move(d);
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return done(st);
    done(std::move(response));
  });
}

}  // namespace gantry
