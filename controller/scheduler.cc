#include "controller/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/parser.h"
#include "common/crypto.h"
#include "common/locator.h"
#include "common/status_macros.h"
#include "common/text_diff.h"
#include "controller/agent_messages.h"
#include "controller/artifacts/fetch_resolver.h"
#include "controller/run_view.h"
#include "controller/store/tx.h"
#include "controller/variables.h"

namespace gantry {
namespace {

void ToProtoTask(const config::Task& task, int64_t run_counter,
                 const std::string& pipeline, v1::Task* out) {
  out->set_run_if(task.run_if == config::RunIf::kFailed ? "failed"
                  : task.run_if == config::RunIf::kAny  ? "any"
                                                        : "passed");
  if (task.kind == config::Task::Kind::kExec) {
    auto* exec = out->mutable_exec();
    exec->set_command(task.exec.command);
    for (const auto& a : task.exec.arguments) exec->add_arguments(a);
    exec->set_working_directory(task.exec.working_directory);
  } else {
    auto* fetch = out->mutable_fetch();
    fetch->set_pipeline(task.fetch.pipeline.empty() ? pipeline : task.fetch.pipeline);
    if (task.fetch.pipeline.empty() || task.fetch.pipeline == pipeline) {
      fetch->set_pipeline_counter(run_counter);
    }
    fetch->set_stage(task.fetch.stage);
    fetch->set_job(task.fetch.job);
    fetch->set_source(task.fetch.source);
    fetch->set_destination(task.fetch.destination);
    fetch->set_is_file(task.fetch.is_file);
  }
  if (!task.on_cancel.empty()) {
    ToProtoTask(task.on_cancel.front(), run_counter, pipeline, out->mutable_on_cancel());
  }
}

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& r) {
  return {r.begin(), r.end()};
}

}  // namespace

Scheduler::Scheduler(std::unique_ptr<store::Db> db, ConfigCache* configs,
                     SchedulerOptions options)
    : db_(std::move(db)),
      configs_(configs),
      options_(std::move(options)),
      planner_(configs, [this](const JobRequirements& req) {
        std::vector<std::string> ids;
        for (const auto& [id, agent] : agents_) {
          if (Matches(req, ProfileOf(agent))) ids.push_back(id);
        }
        return ids;
      }) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::CloseSessions() {
  std::promise<void> closed;
  strand_.Post([&] {
    closing_ = true;
    for (auto& [id, agent] : agents_) {
      if (!agent.channel) continue;
      agent.channel->Close(absl::UnavailableError("controller shutting down"));
      agent.channel.reset();
    }
    channel_agent_.clear();
    RecordContacts();
    closed.set_value();
  });
  closed.get_future().wait();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(ticker_mu_);
    stopping_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  strand_.Shutdown();
}

absl::Status Scheduler::Start() {
  std::promise<absl::Status> promise;
  strand_.Post([&] {
    std::vector<store::AgentRecord> agents;
    std::vector<store::JobRunRecord> active;
    std::map<int64_t, std::string> locators;
    std::vector<ScheduledJob> scheduled;
    int64_t revision = 0;
    std::shared_ptr<const config::Config> config;
    absl::Status st = db_->Run("LoadState", [&](store::Tx& tx) -> absl::Status {
      agents = tx.Agents();
      active = tx.ActiveJobRuns();
      locators.clear();
      scheduled.clear();
      for (const auto& j : active) {
        if (j.state != "scheduled") {
          locators[j.id] = LocatorOf(tx, j.id);
          continue;
        }
        ASSIGN_OR_RETURN(auto job, planner_.LoadScheduledJob(tx, j.id));
        if (job) scheduled.push_back(std::move(*job));
      }
      revision = tx.CurrentConfigRevision();
      if (revision > 0) {
        ASSIGN_OR_RETURN(config, configs_->Get(tx, revision));
      }
      return absl::OkStatus();
    });
    if (!st.ok()) {
      promise.set_value(st);
      return;
    }
    if (config) configs_->SetCurrent(revision, config);
    for (auto& a : agents) {
      AgentState state;
      state.record = std::move(a);
      agents_[state.record.id] = std::move(state);
    }
    for (const auto& j : active) {
      if (j.state == "scheduled") continue;
      if (auto it = agents_.find(j.agent_id); it != agents_.end()) {
        // Held by an agent that will say on reconnect whether it still runs it.
        it->second.attempt = j.id;
        it->second.building = locators[j.id];
      }
    }
    // Agents holding jobs get a full timeout to come back before being lost.
    for (auto& [id, agent] : agents_) {
      if (agent.attempt != 0) agent.last_contact = absl::Now();
    }
    EnqueueJobs(scheduled);
    spdlog::info("loaded {} agents, {} unfinished jobs, config revision {}",
                 agents_.size(), active.size(), revision);
    promise.set_value(absl::OkStatus());
  });
  absl::Status st = promise.get_future().get();
  if (!st.ok()) return st;
  absl::Duration period =
      std::min(absl::Seconds(1), std::max(absl::Milliseconds(20), options_.agent_lost_timeout / 4));
  ticker_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(ticker_mu_);
    while (!ticker_cv_.wait_for(lock, absl::ToChronoMilliseconds(period),
                                [this] { return stopping_; })) {
      // Stamped when posted: a tick queued behind a database stall must not
      // count the stall against agents whose heartbeats queued with it.
      strand_.Post([this, posted = absl::Now()] { Tick(posted); });
    }
  });
  return absl::OkStatus();
}

void Scheduler::RecordContacts() {
  std::vector<std::pair<std::string, int64_t>> contacts;
  for (const auto& [id, agent] : agents_) {
    if (agent.last_contact == absl::InfinitePast()) continue;
    int64_t ms = absl::ToUnixMillis(agent.last_contact);
    if (ms > agent.recorded_contact_ms) contacts.emplace_back(id, ms);
  }
  contacts_recorded_at_ = absl::Now();
  if (contacts.empty()) return;
  absl::Status st = db_->Run("RecordAgentContacts", [&](store::Tx& tx) {
    tx.RecordAgentContacts(contacts);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    spdlog::warn("agent contact times not recorded: {}", st.ToString());
    return;
  }
  for (const auto& [id, ms] : contacts) agents_[id].recorded_contact_ms = ms;
}

void Scheduler::Tick(absl::Time now) {
  // Shutting down: agents can no longer reach us, so silence means nothing.
  if (closing_) return;
  if (now - contacts_recorded_at_ >= kRecordContactsEvery) RecordContacts();
  for (auto& [id, agent] : agents_) {
    if (agent.lost || (!agent.channel && agent.attempt == 0)) continue;
    if (now - agent.last_contact > options_.agent_lost_timeout) {
      MarkLost(agent, absl::StrCat("agent ", agent.record.name, " silent for ",
                                   absl::FormatDuration(absl::Trunc(now - agent.last_contact,
                                                                    absl::Milliseconds(100)))));
    }
  }
  UpdateWaitingReasons();
}

void Scheduler::MarkLost(AgentState& agent, const std::string& why) {
  spdlog::warn("{}: marking it lost", why);
  agent.lost = true;
  if (agent.channel) {
    channel_agent_.erase(agent.channel.get());
    agent.channel->Close(absl::UnavailableError("no heartbeat within the agent-lost timeout"));
    agent.channel.reset();
  }
  if (agent.attempt == 0) return;
  int64_t attempt = agent.attempt;
  PlanEffects effects;
  absl::Status st = db_->Run("LoseJob", [&](store::Tx& tx) -> absl::Status {
    effects.Clear();
    return planner_.LoseJob(tx, attempt, agent.record.id, why, &effects).status();
  });
  if (!st.ok()) {
    spdlog::error("cannot mark attempt {} lost: {}", attempt, st.ToString());
    agent.lost = false;  // try again on the next tick
    return;
  }
  agent.attempt = 0;
  agent.building.clear();
  ApplyEffects(effects);
}

void Scheduler::UpdateWaitingReasons() {
  if (pending_.empty()) return;
  std::vector<AgentProfile> profiles;
  std::vector<const AgentState*> states;
  for (const auto& [id, agent] : agents_) {
    profiles.push_back(ProfileOf(agent));
    states.push_back(&agent);
  }
  std::vector<std::pair<int64_t, std::string>> changed;
  for (auto& [id, job] : pending_) {
    bool any_match = false, any_connected = false;
    for (size_t i = 0; i < profiles.size(); ++i) {
      if (!Matches(job.requirements, profiles[i])) continue;
      any_match = true;
      any_connected |= states[i]->channel != nullptr;
    }
    std::string pinned;
    if (auto a = agents_.find(job.requirements.agent_id); a != agents_.end()) {
      pinned = a->second.record.name;
    }
    std::string reason =
        !any_match ? "waiting: " + ExplainNoMatch(job.requirements, profiles)
        : !any_connected
            ? (pinned.empty() ? "waiting: every matching agent is offline"
                              : absl::StrCat("waiting: its agent ", pinned, " is offline"))
            : (pinned.empty() ? "waiting for a free agent"
                              : absl::StrCat("waiting for its agent ", pinned, " to be free"));
    if (reason != job.reason) {
      job.reason = reason;
      changed.emplace_back(id, reason);
    }
  }
  if (changed.empty()) return;
  absl::Status st = db_->Run("SetJobReasons", [&](store::Tx& tx) {
    for (const auto& [id, reason] : changed) tx.SetJobReason(id, reason);
    return absl::OkStatus();
  });
  if (!st.ok()) spdlog::warn("cannot store waiting reasons: {}", st.ToString());
}

// ---------------------------------------------------------------- operator

void Scheduler::ApplyConfig(std::vector<v1::ConfigFile> files, std::string author,
                            Reply<v1::ApplyConfigResponse> done) {
  strand_.Post([this, files = std::move(files), author = std::move(author),
                done = std::move(done)] { DoApplyConfig(files, author, done); });
}

void Scheduler::DoApplyConfig(const std::vector<v1::ConfigFile>& files,
                              const std::string& author,
                              const Reply<v1::ApplyConfigResponse>& done) {
  std::vector<config::ConfigFile> parsed_files;
  std::string all;
  for (const auto& f : files) {
    parsed_files.push_back({f.path(), f.content()});
    absl::StrAppend(&all, "# file: ", f.path(), "\n", f.content(), "\n");
  }
  if (files.empty()) {
    done(absl::InvalidArgumentError("no config files given"));
    return;
  }
  config::ParseResult parsed = config::ParseConfig(parsed_files);
  if (!parsed.ok()) {
    done(absl::InvalidArgumentError(parsed.ErrorText()));
    return;
  }
  std::string hash = Sha256Hex(all);
  v1::ApplyConfigResponse response;
  absl::Status st = db_->Run("ApplyConfig", [&](store::Tx& tx) -> absl::Status {
    response.Clear();
    int64_t current = tx.CurrentConfigRevision();
    std::map<std::string, std::string> old_files;
    if (current > 0) {
      auto old = tx.GetConfigRevision(current);
      if (old && old->content_hash == hash) {
        response.set_revision(current);
        response.set_unchanged(true);
        return absl::OkStatus();
      }
      if (old) {
        for (const auto& f : old->files) old_files[f.path] = f.content;
      }
    }
    std::string diff;
    std::vector<store::ConfigFileRecord> records;
    for (const auto& f : parsed_files) {
      auto it = old_files.find(f.path);
      diff += UnifiedDiff(f.path, it == old_files.end() ? "" : it->second, f.content);
      if (it != old_files.end()) old_files.erase(it);
      records.push_back({f.path, f.content});
    }
    for (const auto& [path, content] : old_files) diff += UnifiedDiff(path, content, "");
    int64_t revision = tx.InsertConfigRevision(author, hash, diff, records);
    for (const auto& p : parsed.config.pipelines) tx.EnsurePipeline(p.name);
    response.set_revision(revision);
    response.set_diff(diff);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    done(st);
    return;
  }
  for (const auto& p : parsed.config.pipelines) response.add_pipelines(p.name);
  if (!response.unchanged()) {
    configs_->SetCurrent(response.revision(),
                         std::make_shared<const config::Config>(std::move(parsed.config)));
    spdlog::info("config revision {} applied by {}", response.revision(), author);
    Dispatch();  // environments may have changed what agents match
  }
  done(response);
}

void Scheduler::Approve(v1::StageRequest request, std::string user,
                        Reply<v1::PipelineRun> done) {
  strand_.Post([this, request = std::move(request), user = std::move(user),
                done = std::move(done)] {
    AgentNames names;
    for (const auto& [id, a] : agents_) names[id] = a.record.name;
    PlanEffects effects;
    Assignment assignment;
    v1::PipelineRun view;
    absl::Status st = db_->Run("ApproveStage", [&](store::Tx& tx) -> absl::Status {
      effects.Clear();
      view.Clear();
      ASSIGN_OR_RETURN(store::PipelineRunRecord run,
                       planner_.Approve(tx, request.pipeline(), request.counter(),
                                        request.stage(), user, &effects));
      assignment.batch = PairWithIdleAgents(effects.scheduled_jobs);
      RETURN_IF_ERROR(AssignInTx(tx, &assignment, &effects));
      ASSIGN_OR_RETURN(auto config, configs_->Get(tx, run.config_revision));
      BuildRunView(tx, run, config.get(), names, &view);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      done(st);
      return;
    }
    AssignedInline(assignment, &effects);
    ApplyEffects(effects);
    done(view);
  });
}

void Scheduler::CancelStage(v1::StageRequest request, std::string user,
                            Reply<v1::PipelineRun> done) {
  strand_.Post([this, request = std::move(request), user = std::move(user),
                done = std::move(done)] {
    AgentNames names;
    for (const auto& [id, a] : agents_) names[id] = a.record.name;
    PlanEffects effects;
    v1::PipelineRun view;
    absl::Status st = db_->Run("CancelStage", [&](store::Tx& tx) -> absl::Status {
      effects.Clear();
      view.Clear();
      ASSIGN_OR_RETURN(store::PipelineRunRecord run,
                       planner_.Cancel(tx, request.pipeline(), request.counter(),
                                       request.stage(), user, &effects));
      ASSIGN_OR_RETURN(auto config, configs_->Get(tx, run.config_revision));
      BuildRunView(tx, run, config.get(), names, &view);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      done(st);
      return;
    }
    ApplyEffects(effects);
    done(view);
  });
}

void Scheduler::ListAgents(Reply<v1::ListAgentsResponse> done) {
  strand_.Post([this, done = std::move(done)] {
    v1::ListAgentsResponse response;
    for (const auto& [id, agent] : agents_) *response.add_agents() = AgentView(agent);
    done(response);
  });
}

void Scheduler::UpdateAgent(v1::UpdateAgentRequest request, Reply<v1::Agent> done) {
  strand_.Post([this, request = std::move(request), done = std::move(done)] {
    absl::Status error;
    AgentState* agent = FindAgent(request.agent(), &error);
    if (agent == nullptr) {
      done(error);
      return;
    }
    const std::string& action = request.action();
    std::string state;
    if (action == "approve") {
      if (agent->record.state == "disabled") {
        done(absl::FailedPreconditionError(absl::StrCat(
            "agent ", agent->record.name, " is disabled, not pending: use 'agent enable'")));
        return;
      }
      state = "enabled";
    } else if (action == "enable") {
      state = "enabled";
    } else if (action == "disable") {
      state = "disabled";
    } else {
      done(absl::InvalidArgumentError(absl::StrCat(
          "unknown agent action '", action, "' (expected approve, enable or disable)")));
      return;
    }
    std::string id = agent->record.id;
    absl::Status st = db_->Run("SetAgentState", [&](store::Tx& tx) {
      tx.SetAgentState(id, state);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      done(st);
      return;
    }
    agent->record.state = state;
    spdlog::info("agent {} ({}) is now {}", agent->record.name, id, state);
    if (agent->channel) agent->channel->Send(WelcomeMessage(*agent));
    done(AgentView(*agent));
    Dispatch();
  });
}

// ---------------------------------------------------------------- agents

void Scheduler::Register(v1::RegisterRequest request, Reply<v1::RegisterResponse> done) {
  strand_.Post([this, request = std::move(request), done = std::move(done)] {
    std::string name = request.name().empty() ? request.hostname() : request.name();
    if (!IsValidName(name)) {
      done(absl::InvalidArgumentError(absl::StrCat(
          "invalid agent name '", name,
          "': use letters, digits, '-', '_' and '.' (at most 255)")));
      return;
    }
    bool key_ok = !request.register_key().empty() &&
                  ConstantTimeEquals(Sha256Hex(request.register_key()),
                                     options_.register_key_hash);
    store::AgentRecord rec;
    rec.id = RandomHex(16);
    rec.name = name;
    rec.hostname = request.hostname();
    std::string token = RandomHex(32);
    rec.token_hash = Sha256Hex(token);
    rec.state = key_ok ? "enabled" : "pending";
    rec.resources = ToVector(request.resources());
    rec.environments = ToVector(request.environments());
    absl::Status st = db_->Run("RegisterAgent", [&](store::Tx& tx) {
      tx.InsertAgent(rec);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      done(st);
      return;
    }
    spdlog::info("agent {} registered as {} ({})", name, rec.id, rec.state);
    AgentState state;
    state.record = rec;
    agents_[rec.id] = std::move(state);
    v1::RegisterResponse response;
    response.set_agent_id(rec.id);
    response.set_token(token);
    response.set_state(rec.state);
    done(response);
  });
}

void Scheduler::AgentDisconnected(std::shared_ptr<AgentChannel> channel) {
  strand_.Post([this, channel = std::move(channel)] {
    auto it = channel_agent_.find(channel.get());
    if (it == channel_agent_.end()) return;
    auto agent = agents_.find(it->second);
    channel_agent_.erase(it);
    if (agent != agents_.end() && agent->second.channel == channel) {
      agent->second.channel.reset();
      spdlog::info("agent {} disconnected", agent->second.record.name);
    }
  });
}

void Scheduler::DoHello(const std::shared_ptr<AgentChannel>& channel, const v1::Hello& hello,
                        absl::Time received) {
  auto it = agents_.find(hello.agent_id());
  if (it == agents_.end()) {
    channel->Close(absl::NotFoundError("unknown agent id: register again"));
    return;
  }
  AgentState& agent = it->second;
  if (closing_) {
    channel->Close(absl::UnavailableError("controller shutting down"));
    return;
  }
  if (!ConstantTimeEquals(Sha256Hex(hello.token()), agent.record.token_hash)) {
    spdlog::warn("agent {} presented a wrong token", agent.record.name);
    channel->Close(absl::UnauthenticatedError("wrong agent token"));
    return;
  }
  if (agent.channel && agent.channel != channel) {
    channel_agent_.erase(agent.channel.get());
    agent.channel->Close(absl::AbortedError("replaced by a newer session"));
  }
  agent.channel = channel;
  agent.last_contact = std::max(agent.last_contact, received);
  agent.lost = false;
  channel_agent_[channel.get()] = agent.record.id;

  auto resources = ToVector(hello.resources());
  auto environments = ToVector(hello.environments());
  std::string id = agent.record.id;
  // The usual reconnect changes nothing: no commit, so a fleet reconnecting
  // after a controller restart is not queued behind thousands of fsyncs.
  bool changed = agent.record.hostname != hello.hostname() ||
                 agent.record.resources != resources ||
                 agent.record.environments != environments;
  absl::Status st = !changed ? absl::OkStatus() : db_->Run("UpdateAgentInfo", [&](store::Tx& tx) {
    tx.UpdateAgentInfo(id, hello.hostname(), resources, environments);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    channel->Close(absl::UnavailableError("controller database unavailable"));
    return;
  }
  agent.record.hostname = hello.hostname();
  agent.record.resources = resources;
  agent.record.environments = environments;
  spdlog::info("agent {} connected ({}, resources [{}], environments [{}])",
               agent.record.name, agent.record.state, absl::StrJoin(resources, ","),
               absl::StrJoin(environments, ","));

  channel->Send(WelcomeMessage(agent));

  // Fencing: the agent keeps only the attempt the database says is its own.
  bool still_holds_ours = false;
  for (const auto& held : hello.held()) {
    if (held.attempt_id() == agent.attempt) {
      still_holds_ours = true;
      std::string cancel_reason;
      (void)db_->Run("ReadCancelReason", [&](store::Tx& tx) {
        auto job = tx.GetJobRun(held.attempt_id(), false);
        cancel_reason = job ? job->cancel_reason : "";
        return absl::OkStatus();
      });
      // A stage cancel made while it was away still applies.
      if (!cancel_reason.empty() && !held.finished()) {
        channel->Send(CancelMessage(held.attempt_id(), cancel_reason));
      }
      continue;
    }
    std::optional<store::JobRunRecord> job;
    (void)db_->Run("ReadJobRun", [&](store::Tx& tx) {
      job = tx.GetJobRun(held.attempt_id(), false);
      return absl::OkStatus();
    });
    bool finished_duplicate = job && job->agent_id == id && IsFinalJobState(job->state) &&
                              held.finished();
    if (!finished_duplicate) {
      channel->Send(AbandonMessage(held.attempt_id()));
    }
  }
  if (agent.attempt != 0 && !still_holds_ours) {
    int64_t attempt = agent.attempt;
    PlanEffects effects;
    st = db_->Run("ReclaimJob", [&](store::Tx& tx) -> absl::Status {
      effects.Clear();
      auto job = tx.GetJobRun(attempt, true);
      if (!job || job->agent_id != id) return absl::OkStatus();
      if (job->state == "assigned") {
        // Never started: safe to hand to any agent.
        tx.TransitionJob(attempt, {"assigned"}, "scheduled", "", "");
        ASSIGN_OR_RETURN(auto again, planner_.LoadScheduledJob(tx, attempt));
        if (again) effects.scheduled_jobs.push_back(std::move(*again));
      } else if (job->state == "running") {
        tx.TransitionJob(attempt, {"running"}, "failed", id,
                         absl::StrCat("agent ", agent.record.name,
                                      " restarted and lost the job"));
        RETURN_IF_ERROR(planner_.SettleStage(tx, job->stage_run_id, &effects));
      }
      return absl::OkStatus();
    });
    if (st.ok()) {
      agent.attempt = 0;
      agent.building.clear();
      ApplyEffects(effects);
    }
  }
  Dispatch();
}

// ---------------------------------------------------------------- dispatch

void Scheduler::ApplyEffects(const PlanEffects& effects, bool dispatch) {
  for (const auto& e : effects.events) spdlog::info("{}", e);
  for (int64_t id : effects.ended_jobs) pending_.erase(id);
  for (const auto& cancel : effects.cancels) {
    // A disconnected agent hears it on reconnect (DoHello), or its attempt
    // is lost and the cancel stands.
    auto it = agents_.find(cancel.agent_id);
    if (it == agents_.end() || !it->second.channel ||
        it->second.attempt != cancel.attempt_id) {
      continue;
    }
    it->second.channel->Send(CancelMessage(cancel.attempt_id, cancel.reason));
  }
  EnqueueJobs(effects.scheduled_jobs);
  if (dispatch) Dispatch();
}

void Scheduler::EnqueueJobs(const std::vector<ScheduledJob>& jobs) {
  for (const ScheduledJob& job : jobs) {
    PendingJob& pending = pending_[job.job_run_id];
    static_cast<ScheduledJob&>(pending) = job;
    pending.locator = job.Locator();
  }
}

void Scheduler::Dispatch() {
  // Pair pending jobs, oldest first, with idle matching agents, then commit
  // the whole batch in one transaction: a fan-out costs one fsync, not one
  // per job.
  std::vector<Pairing> batch;
  std::set<const AgentState*> taken;
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    bool idle_left = false;
    for (auto& [id, agent] : agents_) {
      if (!agent.channel || agent.attempt != 0 || agent.record.state != "enabled" ||
          taken.count(&agent) != 0) {
        continue;
      }
      idle_left = true;
      if (!Matches(it->second.requirements, ProfileOf(agent))) continue;
      batch.push_back({&agent, it->second});
      taken.insert(&agent);
      break;
    }
    if (!idle_left || batch.size() >= kMaxAssignBatch) break;
  }
  if (batch.empty()) return;
  AssignBatch(batch);
  // More may fit: go on after what is queued on the strand now.
  if (batch.size() >= kMaxAssignBatch) strand_.Post([this] { Dispatch(); });
}

void Scheduler::AssignBatch(const std::vector<Pairing>& batch) {
  Assignment assignment;
  assignment.batch = batch;
  PlanEffects effects;
  absl::Status st = db_->Run("AssignJobs", [&](store::Tx& tx) -> absl::Status {
    effects.Clear();
    return AssignInTx(tx, &assignment, &effects);
  });
  if (!st.ok()) {
    // The jobs stay queued; the next dispatch tries again.
    spdlog::error("cannot assign {} job(s): {}", batch.size(), st.ToString());
    return;
  }
  SendAssignments(assignment);
  if (!effects.events.empty() || !effects.scheduled_jobs.empty()) {
    // Effects of failed assignments are applied after this dispatch.
    strand_.Post([this, effects] { ApplyEffects(effects); });
  }
}

absl::Status Scheduler::AssignInTx(store::Tx& tx, Assignment* assignment, PlanEffects* effects) {
  const auto& batch = assignment->batch;
  assignment->messages.assign(batch.size(), std::nullopt);
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& [agent, job] = batch[i];
    if (!tx.TransitionJob(job.job_run_id, {"scheduled"}, "assigned", agent->record.id, "")) {
      continue;  // no longer scheduled: drop it from the queue
    }
    auto assign = BuildAssignment(tx, job);
    if (!assign.ok()) {
      tx.TransitionJob(job.job_run_id, {"assigned"}, "failed", "",
                       std::string(assign.status().message()));
      RETURN_IF_ERROR(planner_.SettleStage(tx, job.stage.id, effects));
      continue;
    }
    assignment->messages[i].emplace();
    *assignment->messages[i]->mutable_assign() = std::move(*assign);
  }
  return absl::OkStatus();
}

void Scheduler::SendAssignments(const Assignment& assignment) {
  for (size_t i = 0; i < assignment.batch.size(); ++i) {
    const auto& [agent, job] = assignment.batch[i];
    pending_.erase(job.job_run_id);
    if (!assignment.messages[i]) continue;
    agent->attempt = job.job_run_id;
    agent->building = job.locator;
    spdlog::info("assigned {} (attempt {}) to {}", job.locator, job.job_run_id,
                 agent->record.name);
    agent->channel->Send(*assignment.messages[i]);
  }
}

std::vector<Scheduler::Pairing> Scheduler::PairWithIdleAgents(
    const std::vector<ScheduledJob>& jobs) {
  std::vector<Pairing> batch;
  std::set<const AgentState*> taken;
  for (const ScheduledJob& job : jobs) {
    for (auto& [id, agent] : agents_) {
      if (!agent.channel || agent.attempt != 0 || agent.record.state != "enabled" ||
          taken.count(&agent) != 0) {
        continue;
      }
      AgentProfile profile = ProfileOf(agent);
      if (!Matches(job.requirements, profile)) continue;
      // Oldest first: a queued job this agent could take goes before.
      bool older_fits = false;
      for (const auto& [pending_id, pending] : pending_) {
        if (Matches(pending.requirements, profile)) {
          older_fits = true;
          break;
        }
      }
      if (older_fits) continue;
      PendingJob pending;
      static_cast<ScheduledJob&>(pending) = job;
      pending.locator = job.Locator();
      batch.push_back({&agent, std::move(pending)});
      taken.insert(&agent);
      break;
    }
  }
  return batch;
}

void Scheduler::AssignedInline(const Assignment& assignment, PlanEffects* effects) {
  SendAssignments(assignment);
  std::set<int64_t> assigned;
  for (const auto& pairing : assignment.batch) assigned.insert(pairing.job.job_run_id);
  auto& jobs = effects->scheduled_jobs;
  jobs.erase(std::remove_if(jobs.begin(), jobs.end(),
                            [&](const ScheduledJob& j) { return assigned.count(j.job_run_id); }),
             jobs.end());
}

absl::StatusOr<v1::Assign> Scheduler::BuildAssignment(store::Tx& tx, const ScheduledJob& job) {
  // Records as scheduled: the fields used here never change after insert.
  const store::PipelineRunRecord* run = &job.run;
  const store::StageRunRecord* stage = &job.stage;
  const int64_t job_run_id = job.job_run_id;
  ASSIGN_OR_RETURN(auto config, configs_->Get(tx, run->config_revision));
  const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
  if (pipeline == nullptr || stage->stage_index >= static_cast<int>(pipeline->stages.size())) {
    return absl::InternalError("the run's config has no such stage");
  }
  const config::Stage& stage_cfg = pipeline->stages[stage->stage_index];
  const config::Job* job_cfg = nullptr;
  for (const auto& j : stage_cfg.jobs) {
    if (j.name == job.config_job) job_cfg = &j;
  }
  if (job_cfg == nullptr) return absl::InternalError("the run's config has no such job");

  v1::Assign a;
  a.set_attempt_id(job_run_id);
  a.set_pipeline(run->pipeline);
  a.set_pipeline_counter(run->counter);
  a.set_pipeline_label(run->label);
  a.set_stage(stage->name);
  a.set_stage_counter(stage->counter);
  a.set_job(job.name);
  a.set_working_directory(absl::StrCat("pipelines/", run->pipeline));
  a.set_timeout_seconds(job_cfg->timeout_seconds);
  a.set_max_duration_seconds(job_cfg->max_duration_seconds);
  for (const auto& t : job_cfg->tasks) {
    v1::Task* task = a.add_tasks();
    ToProtoTask(t, run->counter, run->pipeline, task);
    if (t.kind != config::Task::Kind::kFetch) continue;
    // The exact attempt it will read, for the agent's messages; the
    // download resolves it again, so a failure here surfaces there.
    auto from = ResolveFetch(tx, *run, t.fetch);
    v1::FetchTask* fetch = task->mutable_fetch();
    if (from.ok()) {
      fetch->set_pipeline(from->run.pipeline);
      fetch->set_pipeline_counter(from->run.counter);
      fetch->set_stage_counter(from->stage.counter);
      fetch->set_locator(from->Locator());
    } else {
      fetch->set_locator(absl::StrCat(t.fetch.pipeline.empty() ? run->pipeline : t.fetch.pipeline,
                                      "/", t.fetch.stage, "/", t.fetch.job));
    }
  }
  for (const auto& art : job_cfg->artifacts) {
    v1::ArtifactSpec* spec = a.add_artifacts();
    spec->set_source(art.source);
    spec->set_destination(art.destination);
    spec->set_kind(art.kind == config::Artifact::Kind::kTest ? "test" : "build");
    spec->set_run_if(art.run_if == config::RunIf::kFailed ? "failed"
                     : art.run_if == config::RunIf::kAny  ? "any"
                                                          : "passed");
  }

  auto current = configs_->current();
  const config::Environment* env = current->EnvironmentOfPipeline(run->pipeline);
  std::vector<config::Variable> builtins = {
      {"GANTRY_PIPELINE_NAME", run->pipeline, false},
      {"GANTRY_PIPELINE_COUNTER", absl::StrCat(run->counter), false},
      {"GANTRY_PIPELINE_LABEL", run->label, false},
      {"GANTRY_STAGE_NAME", stage->name, false},
      {"GANTRY_STAGE_COUNTER", absl::StrCat(stage->counter), false},
      {"GANTRY_JOB_NAME", job.name, false},
      {"GANTRY_TRIGGER_USER", run->trigger_user, false},
      {"GANTRY_ENVIRONMENT_NAME", env ? env->name : "", false},
      {"GANTRY_CONTROLLER_URL", options_.controller_url, false},
  };
  for (const auto& m : tx.RunMaterials(run->id)) {
    builtins.push_back({config::RevisionVariableName(m.material), m.revision, false});
  }
  std::vector<config::Variable> overrides;
  for (const auto& v : tx.RunVariables(run->id)) overrides.push_back({v.name, v.value, v.secure});
  std::vector<config::Variable> merged = MergeVariables(
      {&builtins, env ? &env->variables : nullptr, &pipeline->variables,
       &stage_cfg.variables, &job_cfg->variables, &overrides});
  for (const auto& v : merged) {
    auto* var = a.add_variables();
    var->set_name(v.name);
    var->set_value(v.value);
    var->set_secure(v.secure);
  }
  return a;
}

// ---------------------------------------------------------------- helpers

v1::ControllerMessage Scheduler::WelcomeMessage(const AgentState& agent) const {
  v1::ControllerMessage m;
  m.mutable_welcome()->set_agent_id(agent.record.id);
  m.mutable_welcome()->set_state(agent.record.state);
  m.mutable_welcome()->set_heartbeat_interval_ms(
      static_cast<int32_t>(absl::ToInt64Milliseconds(options_.heartbeat_interval)));
  return m;
}

AgentProfile Scheduler::ProfileOf(const AgentState& agent) const {
  AgentProfile p;
  p.id = agent.record.id;
  p.name = agent.record.name;
  p.enabled = agent.record.state == "enabled";
  p.resources = agent.record.resources;
  auto config = configs_->current();
  for (const auto& e : agent.record.environments) {
    if (config->FindEnvironment(e) != nullptr) p.environments.insert(e);
  }
  for (const auto& env : config->environments) {
    for (const auto& a : env.agents) {
      if (a == agent.record.name || a == agent.record.id) p.environments.insert(env.name);
    }
  }
  return p;
}

Scheduler::AgentState* Scheduler::AgentOfChannel(const AgentChannel* channel) {
  auto it = channel_agent_.find(channel);
  if (it == channel_agent_.end()) return nullptr;
  auto agent = agents_.find(it->second);
  return agent == agents_.end() ? nullptr : &agent->second;
}

Scheduler::AgentState* Scheduler::FindAgent(const std::string& id_or_name,
                                            absl::Status* error) {
  auto it = agents_.find(id_or_name);
  if (it != agents_.end()) return &it->second;
  AgentState* found = nullptr;
  int count = 0;
  for (auto& [id, agent] : agents_) {
    if (agent.record.name == id_or_name) {
      found = &agent;
      ++count;
    }
  }
  if (count == 1) return found;
  *error = count == 0
               ? absl::NotFoundError(absl::StrCat("no agent with id or name '", id_or_name, "'"))
               : absl::FailedPreconditionError(absl::StrCat(
                     count, " agents are named '", id_or_name, "': use the id"));
  return nullptr;
}

v1::Agent Scheduler::AgentView(const AgentState& agent) const {
  v1::Agent out;
  out.set_id(agent.record.id);
  out.set_name(agent.record.name);
  out.set_hostname(agent.record.hostname);
  out.set_config_state(agent.record.state);
  out.set_connected(agent.channel != nullptr);
  std::string status;
  if (agent.record.state == "pending") {
    status = "pending";
  } else if (agent.record.state == "disabled") {
    status = agent.attempt != 0 ? "building" : "disabled";
  } else if (agent.lost || (agent.channel && absl::Now() - agent.last_contact >
                                                   options_.agent_lost_timeout)) {
    // Silent past the timeout: lost now, even before the next tick acts on it.
    status = "lost";
  } else if (!agent.channel) {
    status = "offline";
  } else {
    status = agent.attempt != 0 ? "building" : "idle";
  }
  out.set_status(status);
  if (agent.attempt != 0) out.set_building(agent.building);
  for (const auto& r : agent.record.resources) out.add_resources(r);
  for (const auto& e : agent.record.environments) out.add_environments(e);
  int64_t last = agent.last_contact == absl::InfinitePast()
                     ? agent.record.last_contact
                     : absl::ToUnixMillis(agent.last_contact);
  if (last > 0) SetTimestamp(last, out.mutable_last_contact());
  return out;
}

std::string Scheduler::LocatorOf(store::Tx& tx, int64_t job_run_id) {
  auto job = tx.GetJobRun(job_run_id, false);
  if (!job) return "";
  auto stage = tx.GetStageRun(job->stage_run_id);
  auto run = tx.GetPipelineRun(stage->run_id);
  return absl::StrCat(run->pipeline, "/", run->counter, "/", stage->name, "/",
                      stage->counter, "/", job->name);
}

}  // namespace gantry
