// Batches: preparing, pairing queued jobs with idle agents, committing, and
// reloading memory when a commit fails.
#include "controller/scheduling/scheduler.h"

#include <spdlog/spdlog.h>

#include <future>
#include <unordered_set>

#include "controller/agent_messages.h"
#include "controller/run_view.h"
#include "controller/scheduling/assignment_builder.h"
#include "controller/scheduling/fetch_sources.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

// Ids kept in reserve before each batch, so that ids are rarely fetched in
// the middle of one.
constexpr size_t kIdReserve = 256;

}  // namespace

Scheduler::Scheduler(std::unique_ptr<store::Db> db, ConfigCache* configs, SchedulerOptions options,
                     Clock* clock)
    : db_(std::move(db)),
      configs_(configs),
      options_(std::move(options)),
      clock_(clock),
      cold_(db_.get(), configs),
      planner_(&model_, configs, &cold_, &cold_),
      agents_(configs) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Sync() {
  std::promise<void> done;
  strand_.Post([&] { done.set_value(); });
  done.get_future().wait();
}

absl::Status Scheduler::Start() {
  std::promise<absl::Status> promise;
  strand_.Post([&] {
    std::vector<store::AgentRecord> agents;
    int64_t revision = 0;
    std::shared_ptr<const config::Config> config;
    absl::Status st = db_->Run("LoadState", [&](store::Tx& tx) -> absl::Status {
      agents = tx.Agents();
      revision = tx.CurrentConfigRevision();
      if (revision > 0) {
        auto got = configs_->Get(tx, revision);
        if (!got.ok()) return got.status();
        config = *got;
      }
      return absl::OkStatus();
    });
    if (st.ok()) {
      if (config) configs_->SetCurrent(revision, config);
      agents_.Load(std::move(agents), clock_->Now());
      st = LoadRuns();
    }
    if (st.ok()) {
      // Agents holding jobs get a full timeout to come back (counted again
      // from Serving).
      agents_.RestartClocks(clock_->Now());
      spdlog::info("loaded {} agents, {} unfinished runs, {} queued jobs, config revision {}",
                   agents_.all().size(), model_.runs().size(), dispatcher_.size(), revision);
    }
    promise.set_value(st);
  });
  absl::Status st = promise.get_future().get();
  if (!st.ok()) return st;
  absl::Duration period =
      std::min(absl::Seconds(1), std::max(absl::Milliseconds(20), options_.agent_lost_timeout / 4));
  clock_->Every(period, [this] {
    // Stamped when posted: a tick queued behind a database stall must not
    // count the stall against agents whose heartbeats queued with it.
    strand_.Post([this, posted = clock_->Now()] { Tick(posted); });
  });
  return StartTimers();
}

void Scheduler::Serving() {
  strand_.Post([this] { agents_.RestartClocks(clock_->Now()); });
}

void Scheduler::Stop() {
  clock_->StopTicks();
  strand_.Shutdown();
}

void Scheduler::CloseSessions() {
  std::promise<void> closed;
  strand_.Post([&] {
    closing_ = true;
    for (auto& [id, agent] : agents_.all()) {
      agents_.CloseSession(agent, absl::UnavailableError("controller shutting down"),
                           clock_->Now());
    }
    RecordContacts(clock_->Now());
    closed.set_value();
  });
  closed.get_future().wait();
}

absl::Status Scheduler::LoadRuns() {
  std::map<std::string, int64_t> counters;
  std::vector<store::RunRows> rows;
  std::vector<store::PipelineRecord> controls;
  std::vector<store::BadVersionRecord> bad_versions;
  absl::Status st = db_->Run("LoadRuns", [&](store::Tx& tx) {
    counters = tx.PipelineCounters();
    controls = tx.PipelineControls();
    bad_versions = tx.BadVersions("", false);
    rows = tx.LoadRuns(tx.UnfinishedRunIds());
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  model_.Reset(std::move(counters));
  model_.LoadControls(std::move(controls));
  model_.bad_versions().Load(std::move(bad_versions));
  planner_.Reset();
  for (auto& r : rows) {
    auto configs = LoadRunConfigs(cold_, r);
    if (!configs.ok()) return configs.status();
    model_.Load(std::move(r), std::move(*configs));
  }
  dispatcher_.Clear();
  for (auto& [id, agent] : agents_.all()) {
    agent.attempt = 0;
    agent.building.clear();
  }
  for (const auto& [run_id, run] : model_.runs()) {
    for (const auto& [attempt, job] : run.jobs) {
      if (job.state == JobState::kScheduled) {
        if (auto q = planner_.QueueEntry(attempt)) dispatcher_.Enqueue(std::move(*q));
      } else if (IsHeld(job.state)) {
        // Held by an agent that will say on reconnect whether it still runs it.
        if (AgentSession* agent = agents_.ById(job.agent_id)) {
          agent->attempt = attempt;
          agent->building = JobLocator(run, run.stages.at(job.stage_run_id), job);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Scheduler::Resync() {
  spdlog::warn("reloading unfinished runs from the database");
  absl::Status st = LoadRuns();
  if (!st.ok()) {
    spdlog::error("cannot reload state from the database: {}", st.ToString());
    if (fatal_) fatal_(st);
  }
  return st;
}

void Scheduler::Prepare(Batch& batch) {
  planner_.set_now_ms(absl::ToUnixMillis(clock_->Now()));
  if (profiles_changed_) {
    planner_.set_agents(agents_.Profiles());
    profiles_changed_ = false;
  }
  absl::Status st = cold_.Reserve(kIdReserve);
  if (!st.ok()) batch.failed = st;
}

void Scheduler::AfterOperation(Batch& batch, const absl::Status& st) {
  if (st.ok() || !batch.failed.ok()) return;
  switch (st.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      // The database failed part-way: memory may be ahead of it.
      batch.failed = st;
      return;
    default:
      return;  // a refusal: nothing changed
  }
}

v1::PipelineRun Scheduler::RunView(int64_t run_id) {
  v1::PipelineRun view;
  if (const RunEntry* run = model_.FindRun(run_id)) {
    BuildRunView(run->Rows(), run->config.get(), agents_.Names(), &view);
  }
  return view;
}

void Scheduler::AssignInBatch(Batch& batch) {
  // What the batch decided about the queue and the agents, before pairing:
  // an agent freed here takes its next job in the same commit.
  for (auto& q : batch.effects.queued) dispatcher_.Enqueue(q);
  batch.effects.queued.clear();
  for (int64_t id : batch.effects.unqueued) dispatcher_.Remove(id);
  if (!batch.effects.released.empty()) {
    std::unordered_set<int64_t> released(batch.effects.released.begin(),
                                         batch.effects.released.end());
    for (auto& [id, agent] : agents_.all()) {
      if (agent.attempt != 0 && released.count(agent.attempt) != 0) {
        agent.attempt = 0;
        agent.building.clear();
      }
    }
  }
  auto current = configs_->current();
  for (auto& [agent, job] : dispatcher_.Pair(agents_, kMaxAssignBatch)) {
    dispatcher_.Remove(job.job_run_id);
    RunEntry* run = model_.RunOfJob(job.job_run_id);
    if (run == nullptr) continue;
    AssignmentInput in{run, job.job_run_id, current.get(), options_.controller_url};
    auto assign = BuildAssignment(in);
    if (!assign.ok()) {
      AfterOperation(batch,
                     planner_.FailUnrunnable(job.job_run_id, std::string(assign.status().message()),
                                             &batch.effects));
      continue;
    }
    if (!planner_.Assign(job.job_run_id, agent->record.id)) continue;
    agent->attempt = job.job_run_id;
    agent->building = job.locator;
    auto message = std::make_shared<v1::ControllerMessage>();
    *message->mutable_assign() = std::move(*assign);
    batch.assignments.push_back({agent, in, message});
  }
  // Failing unrunnable jobs may have queued or ended others.
  for (auto& q : batch.effects.queued) dispatcher_.Enqueue(q);
  batch.effects.queued.clear();
}

void Scheduler::Commit(Batch& batch) {
  if (batch.failed.ok()) AssignInBatch(batch);
  absl::Status st = batch.failed;
  std::optional<ChangeNotice> notice;
  if (st.ok() && model_.dirty()) {
    store::WriteBatch writes = model_.TakeWrites();
    if (change_listener_) notice = NoticeOf(writes, model_);
    absl::Time began = absl::Now();
    st = db_->Run("Batch", [&](store::Tx& tx) {
      tx.ApplyWrites(writes);
      for (auto& a : batch.assignments) {
        if (HasFetchTasks(a.message->assign())) {
          FillFetchSources(tx, a.input, a.message->mutable_assign());
        }
      }
      return absl::OkStatus();
    });
    if (notice) notice->commit_time = absl::Now() - began;
  }
  if (!st.ok()) {
    spdlog::error("a batch did not commit: {}", st.ToString());
    if (notice) change_listener_(ChangeNotice::Failed());
    // Memory ran ahead of the database: reload it, then tell everyone
    // waiting on this batch that it failed (agents re-send their reports).
    (void)Resync();
    for (auto& f : batch.on_failure) f(st);
    return;
  }
  ApplyEffects(batch.effects);
  if (notice) change_listener_(std::move(*notice));
  for (auto& f : batch.after_commit) f();
  for (auto& a : batch.assignments) {
    spdlog::info("assigned {} (attempt {}) to {}", a.agent->building,
                 a.message->assign().attempt_id(), a.agent->record.name);
    if (a.agent->channel) a.agent->channel->Send(*a.message);
  }
  model_.EvictFinished();
  // More may fit: go on after what is queued on the strand now.
  if (batch.assignments.size() >= kMaxAssignBatch) {
    strand_.Post([this] {
      Batch next;
      Prepare(next);
      Commit(next);
    });
  }
}

void Scheduler::ApplyEffects(const Effects& effects) {
  for (const auto& e : effects.events) spdlog::info("{}", e);
  for (const auto& cancel : effects.cancels) {
    // A disconnected agent hears it on reconnect (its hello), or its
    // attempt is lost and the cancel stands.
    AgentSession* agent = agents_.ById(cancel.agent_id);
    if (agent == nullptr || !agent->channel || agent->attempt != cancel.attempt_id) continue;
    agent->channel->Send(CancelMessage(cancel.attempt_id, cancel.reason));
  }
}

}  // namespace gantry
