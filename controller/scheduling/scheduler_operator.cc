// Operator calls: config apply, trigger (batched with agent input), approve,
// cancel, and agents' states (registration and the rest of admission:
// scheduler_admission.cc).
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/locator.h"
#include "common/names.h"
#include "controller/scheduling/config_apply.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"

namespace gantry {

void Scheduler::ApplyConfig(std::vector<v1::ConfigFile> files, std::string author,
                            Reply<v1::ApplyConfigResponse> done) {
  ApplyConfigWith(
      [files = std::move(files), author](store::Db& db) {
        return ApplyConfigFiles(db, files, author);
      },
      author, std::move(done));
}

void Scheduler::ApplyConfigWith(std::function<absl::StatusOr<AppliedConfig>(store::Db&)> apply,
                                std::string author, Reply<v1::ApplyConfigResponse> done) {
  strand_.Post(
      [this, apply = std::move(apply), author = std::move(author), done = std::move(done)] {
        auto applied = apply(*db_);
        if (!applied.ok()) {
          done(applied.status());
          return;
        }
        if (applied->config) {
          configs_->SetCurrent(applied->response.revision(), applied->config);
          spdlog::info("config revision {} applied by {}", applied->response.revision(), author);
          // Environments may have changed what agents match.
          profiles_changed_ = true;
          Batch batch;
          Prepare(batch);
          ConfigApplied(batch);
          Commit(batch);
        }
        done(std::move(applied->response));
      });
}

void Scheduler::Trigger(v1::TriggerPipelineRequest request, Principal who,
                        Reply<v1::PipelineRun> done) {
  Inbound in;
  TriggerSpec spec;
  spec.pipeline = request.pipeline();
  spec.user = std::move(who.user);
  spec.roles = std::move(who.roles);
  spec.cause_kind = "manual";
  for (const auto& [k, v] : request.revisions()) spec.revisions[k] = v;
  for (const auto& v : request.variables()) {
    if (absl::Status bad = CheckTriggerVariable(v.name()); !bad.ok()) {
      done(bad);
      return;
    }
    spec.variables.push_back({v.name(), v.value(), v.secure()});
  }
  if (git_resolver_ && !spec.revisions.empty()) {
    ResolveThenDeliver(std::move(spec), std::move(done));  // git SHAs, off the strand
    return;
  }
  in.trigger = std::move(spec);
  in.trigger_done = std::move(done);
  // Triggers share the agents' inbox: a burst of them is planned and
  // committed together, in arrival order with what agents report.
  Deliver(std::move(in));
}

void Scheduler::TriggerItem(Batch& batch, Inbound& in) {
  auto done = std::make_shared<Reply<v1::PipelineRun>>(std::move(in.trigger_done));
  auto run = planner_.Trigger(*in.trigger, &batch.effects);
  if (!run.ok()) {
    AfterOperation(batch, run.status());
    if (batch.failed.ok()) {
      (*done)(run.status());  // refused: nothing changed
    } else {
      batch.on_failure.push_back([done](const absl::Status& st) { (*done)(st); });
    }
    return;
  }
  batch.after_commit.push_back([this, done, id = *run] { (*done)(RunView(id)); });
  batch.on_failure.push_back([done](const absl::Status& st) { (*done)(st); });
}

void Scheduler::RunOperation(const std::function<absl::StatusOr<int64_t>(Effects*)>& operation,
                             const Reply<v1::PipelineRun>& done) {
  Batch batch;
  Prepare(batch);
  auto run = operation(&batch.effects);
  AfterOperation(batch, run.status());
  if (!run.ok() && batch.failed.ok()) {
    done(run.status());  // refused: nothing changed
    return;
  }
  std::optional<absl::Status> result;
  batch.on_failure.push_back([&result](const absl::Status& st) { result = st; });
  Commit(batch);
  done(result ? absl::StatusOr<v1::PipelineRun>(*result) : RunView(*run));
}

void Scheduler::Approve(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done) {
  GateActor actor{std::move(who.user), std::move(who.roles)};
  strand_.Post(
      [this, request = std::move(request), actor = std::move(actor), done = std::move(done)] {
        RunOperation(
            [&](Effects* effects) {
              return planner_.Approve(request.pipeline(), request.counter(), request.stage(), actor,
                                      request.comment(), effects);
            },
            done);
      });
}

void Scheduler::CancelStage(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        RunOperation(
            [&](Effects* effects) {
              return planner_.Cancel(request.pipeline(), request.counter(), request.stage(), user,
                                     effects);
            },
            done);
      });
}

void Scheduler::RerunStage(v1::StageRequest request, Principal who, Reply<v1::PipelineRun> done) {
  strand_.Post(
      [this, request = std::move(request), user = std::move(who.user), done = std::move(done)] {
        RunOperation(
            [&](Effects* effects) {
              RerunOptions options;
              options.and_following = request.and_following();
              options.with_current_config = request.with_current_config();
              options.expected_revision = request.config_revision();
              options.failed_jobs = request.failed_jobs();
              return planner_.Rerun(request.pipeline(), request.counter(), request.stage(), user,
                                    effects, options);
            },
            done);
      });
}

void Scheduler::ListAgents(Reply<v1::ListAgentsResponse> done) {
  strand_.Post([this, done = std::move(done)] {
    v1::ListAgentsResponse response;
    absl::Time now = clock_->Now();
    for (const auto& [id, agent] : agents_.all()) {
      *response.add_agents() = agents_.View(agent, now, options_.agent_lost_timeout);
    }
    done(response);
  });
}

void Scheduler::UpdateAgent(v1::UpdateAgentRequest request, Reply<v1::Agent> done) {
  strand_.Post([this, request = std::move(request), done = std::move(done)] {
    auto found = agents_.Find(request.agent());
    if (!found.ok()) {
      done(found.status());
      return;
    }
    AgentSession& agent = **found;
    const std::string& action = request.action();
    AgentConfigState state;
    if (action == "approve") {
      if (agent.record.state == AgentConfigState::kDisabled) {
        done(absl::FailedPreconditionError(absl::StrCat(
            "agent ", agent.record.name, " is disabled, not pending: use 'agent enable'")));
        return;
      }
      state = AgentConfigState::kEnabled;
    } else if (action == "enable") {
      state = AgentConfigState::kEnabled;
    } else if (action == "disable") {
      state = AgentConfigState::kDisabled;
    } else {
      done(absl::InvalidArgumentError(absl::StrCat("unknown agent action '", action,
                                                   "' (expected approve, enable or disable)")));
      return;
    }
    std::string id = agent.record.id;
    absl::Status st = db_->Run("SetAgentState", [&](store::Tx& tx) {
      tx.SetAgentState(id, state);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      done(st);
      return;
    }
    agents_.SetState(agent, state, clock_->Now());
    profiles_changed_ = true;
    spdlog::info("agent {} ({}) is now {}", agent.record.name, id, Name(state));
    if (agent.channel) agent.channel->Send(agents_.Welcome(agent, options_.heartbeat_interval));
    done(agents_.View(agent, clock_->Now(), options_.agent_lost_timeout));
    Batch batch;
    Prepare(batch);
    Commit(batch);
  });
}

}  // namespace gantry
