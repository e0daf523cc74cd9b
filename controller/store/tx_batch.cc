// Batched writes and the loads that rebuild the scheduler's memory: each
// statement takes one array per column, so a batch of any size costs one
// round trip per table it touches.
#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "controller/store/pg_array.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"
#include "controller/store/tx_rows.h"

namespace gantry::store {
namespace {

std::string Str(std::string_view v) { return std::string(v); }

void InsertRuns(pqxx::transaction_base& w, const std::vector<PipelineRunRecord>& runs) {
  if (runs.empty()) return;
  PgArray id, pipeline, counter, label, state, rev, kind, user, msg, created, fin;
  for (const auto& r : runs) {
    id.Add(r.id);
    pipeline.Add(r.pipeline);
    counter.Add(r.counter);
    label.Add(r.label);
    state.Add(Str(Name(r.state)));
    rev.Add(r.config_revision);
    kind.Add(r.cause_kind);
    user.Add(r.trigger_user);
    msg.Add(r.cause_message);
    created.Add(r.created_at);
    fin.Add(r.finished_at);
  }
  w.exec_prepared(kBatchInsertRuns, id.str(), pipeline.str(), counter.str(), label.str(),
                  state.str(), rev.str(), kind.str(), user.str(), msg.str(), created.str(),
                  fin.str());
}

void UpdateRuns(pqxx::transaction_base& w, const std::vector<PipelineRunRecord>& runs) {
  if (runs.empty()) return;
  PgArray id, state, fin;
  for (const auto& r : runs) {
    id.Add(r.id);
    state.Add(Str(Name(r.state)));
    fin.Add(r.finished_at);
  }
  w.exec_prepared(kBatchUpdateRuns, id.str(), state.str(), fin.str());
}

void InsertMaterials(pqxx::transaction_base& w, const std::vector<RunMaterialRow>& rows) {
  if (rows.empty()) return;
  PgArray run, name, type, rev, up_p, up_c, up_s, up_sc;
  for (const auto& row : rows) {
    const auto& m = row.material;
    run.Add(row.run_id);
    name.Add(m.material);
    type.Add(m.type);
    rev.Add(m.revision);
    up_p.Add(m.upstream_pipeline);
    up_c.Add(m.upstream_counter);
    up_s.Add(m.upstream_stage);
    up_sc.Add(static_cast<int64_t>(m.upstream_stage_counter));
  }
  w.exec_prepared(kBatchInsertMaterials, run.str(), name.str(), type.str(), rev.str(),
                  up_p.str(), up_c.str(), up_s.str(), up_sc.str());
}

void InsertVariables(pqxx::transaction_base& w, const std::vector<RunVariableRow>& rows) {
  if (rows.empty()) return;
  PgArray run, position, name, value, secure;
  for (const auto& row : rows) {
    run.Add(row.run_id);
    position.Add(static_cast<int64_t>(row.position));
    name.Add(row.variable.name);
    value.Add(row.variable.value);
    secure.Add(row.variable.secure);
  }
  w.exec_prepared(kBatchInsertVariables, run.str(), position.str(), name.str(), value.str(),
                  secure.str());
}

void InsertStages(pqxx::transaction_base& w, const std::vector<StageRunRecord>& stages) {
  if (stages.empty()) return;
  PgArray id, run, pipeline, name, idx, counter, state, approval, approver, created, fin;
  for (const auto& s : stages) {
    id.Add(s.id);
    run.Add(s.run_id);
    pipeline.Add(s.pipeline);
    name.Add(s.name);
    idx.Add(static_cast<int64_t>(s.stage_index));
    counter.Add(static_cast<int64_t>(s.counter));
    state.Add(Str(Name(s.state)));
    approval.Add(s.approval);
    approver.Add(s.approved_by);
    created.Add(s.created_at);
    fin.Add(s.finished_at);
  }
  w.exec_prepared(kBatchInsertStages, id.str(), run.str(), pipeline.str(), name.str(), idx.str(),
                  counter.str(), state.str(), approval.str(), approver.str(), created.str(),
                  fin.str());
}

void UpdateStages(pqxx::transaction_base& w, const std::vector<StageRunRecord>& stages) {
  if (stages.empty()) return;
  PgArray id, state, approver, fin;
  for (const auto& s : stages) {
    id.Add(s.id);
    state.Add(Str(Name(s.state)));
    approver.Add(s.approved_by);
    fin.Add(s.finished_at);
  }
  w.exec_prepared(kBatchUpdateStages, id.str(), state.str(), approver.str(), fin.str());
}

void InsertJobs(pqxx::transaction_base& w, const std::vector<JobRunRecord>& jobs) {
  if (jobs.empty()) return;
  PgArray id, stage, name, cfg, state, agent, reason, sched, asg, st, fin, cancel, pin;
  for (const auto& j : jobs) {
    id.Add(j.id);
    stage.Add(j.stage_run_id);
    name.Add(j.name);
    cfg.Add(j.config_job);
    state.Add(Str(Name(j.state)));
    agent.Add(j.agent_id);
    reason.Add(j.reason);
    sched.Add(j.scheduled_at);
    asg.Add(j.assigned_at);
    st.Add(j.started_at);
    fin.Add(j.finished_at);
    cancel.Add(j.cancel_reason);
    pin.Add(j.pinned_agent);
  }
  w.exec_prepared(kBatchInsertJobs, id.str(), stage.str(), name.str(), cfg.str(), state.str(),
                  agent.str(), reason.str(), sched.str(), asg.str(), st.str(), fin.str(),
                  cancel.str(), pin.str());
}

void UpdateJobs(pqxx::transaction_base& w, const std::vector<JobRunRecord>& jobs) {
  if (jobs.empty()) return;
  PgArray id, state, agent, reason, asg, st, fin, cancel, bytes, seq, trunc;
  for (const auto& j : jobs) {
    id.Add(j.id);
    state.Add(Str(Name(j.state)));
    agent.Add(j.agent_id);
    reason.Add(j.reason);
    asg.Add(j.assigned_at);
    st.Add(j.started_at);
    fin.Add(j.finished_at);
    cancel.Add(j.cancel_reason);
    bytes.Add(j.console_bytes);
    seq.Add(j.last_sequence);
    trunc.Add(j.console_truncated);
  }
  w.exec_prepared(kBatchUpdateJobs, id.str(), state.str(), agent.str(), reason.str(), asg.str(),
                  st.str(), fin.str(), cancel.str(), bytes.str(), seq.str(), trunc.str());
}

void InsertConsole(pqxx::transaction_base& w, const std::vector<ConsoleChunkRow>& chunks) {
  if (chunks.empty()) return;
  PgArray job, seq, start, hex;
  for (const auto& c : chunks) {
    job.Add(c.job_run_id);
    seq.Add(c.sequence);
    start.Add(c.start_offset);
    hex.Add(absl::BytesToHexString(c.data));
  }
  w.exec_prepared(kBatchInsertConsole, job.str(), seq.str(), start.str(), hex.str());
}

std::string IdArray(const std::vector<int64_t>& ids) {
  PgArray a;
  for (int64_t id : ids) a.Add(id);
  return a.str();
}

}  // namespace

std::vector<int64_t> Tx::ReserveIds(const std::string& sequence, int count) {
  std::vector<int64_t> ids;
  for (const auto& r : work_.exec_prepared(kReserveIds, sequence, count)) {
    ids.push_back(r[0].as<int64_t>());
  }
  return ids;
}

void Tx::ApplyWrites(const WriteBatch& b) {
  // Parents before children, for the foreign keys.
  if (!b.counters.empty()) {
    PgArray name, counter;
    for (const auto& [p, c] : b.counters) {
      name.Add(p);
      counter.Add(c);
    }
    work_.exec_prepared(kBatchCounters, name.str(), counter.str());
  }
  InsertRuns(work_, b.new_runs);
  InsertMaterials(work_, b.materials);
  InsertVariables(work_, b.variables);
  InsertStages(work_, b.new_stages);
  InsertJobs(work_, b.new_jobs);
  UpdateRuns(work_, b.changed_runs);
  UpdateStages(work_, b.changed_stages);
  UpdateJobs(work_, b.changed_jobs);
  InsertConsole(work_, b.console);
}

std::map<std::string, int64_t> Tx::PipelineCounters() {
  std::map<std::string, int64_t> out;
  for (const auto& r : work_.exec_prepared(kPipelineCounters)) {
    out[r[0].as<std::string>()] = r[1].as<int64_t>();
  }
  return out;
}

std::vector<int64_t> Tx::UnfinishedRunIds() {
  std::vector<int64_t> out;
  for (const auto& r : work_.exec_prepared(kUnfinishedRunIds)) out.push_back(r[0].as<int64_t>());
  return out;
}

std::optional<int64_t> Tx::RunOfJob(int64_t job_run_id) {
  auto r = work_.exec_prepared(kRunOfJob, job_run_id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

std::vector<RunRows> Tx::LoadRuns(const std::vector<int64_t>& run_ids) {
  std::vector<RunRows> out;
  if (run_ids.empty()) return out;
  std::string ids = IdArray(run_ids);
  std::map<int64_t, size_t> index;
  for (const auto& r : work_.exec_prepared(kRunsByIds, ids)) {
    index[r[0].as<int64_t>()] = out.size();
    out.push_back(RunRows{RunFromRow(r)});
  }
  std::map<int64_t, size_t> stage_run;
  for (const auto& r : work_.exec_prepared(kStagesOfRuns, ids)) {
    StageRunRecord s = StageFromRow(r);
    size_t i = index.at(s.run_id);
    stage_run[s.id] = i;
    out[i].stages.push_back(std::move(s));
  }
  for (const auto& r : work_.exec_prepared(kJobsOfRuns, ids)) {
    JobRunRecord j = JobFromRow(r);
    out[stage_run.at(j.stage_run_id)].jobs.push_back(std::move(j));
  }
  for (const auto& r : work_.exec_prepared(kMaterialsOfRuns, ids)) {
    MaterialRevisionRecord m;
    m.material = r[1].as<std::string>();
    m.type = r[2].as<std::string>();
    m.revision = r[3].as<std::string>();
    m.upstream_pipeline = r[4].as<std::string>();
    m.upstream_counter = r[5].as<int64_t>();
    m.upstream_stage = r[6].as<std::string>();
    m.upstream_stage_counter = r[7].as<int32_t>();
    out[index.at(r[0].as<int64_t>())].materials.push_back(std::move(m));
  }
  for (const auto& r : work_.exec_prepared(kVariablesOfRuns, ids)) {
    out[index.at(r[0].as<int64_t>())].variables.push_back(
        {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<bool>()});
  }
  return out;
}

}  // namespace gantry::store
