// Batched writes and the loads that rebuild the scheduler's memory. A
// WriteBatch of any size is one statement (kApplyWrites): one array
// parameter per column, in the order the statement numbers them.
#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "controller/store/pg_array.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"
#include "controller/store/tx_rows.h"

namespace gantry::store {
namespace {

std::string Str(std::string_view v) { return std::string(v); }

void InsertRuns(std::vector<std::string>* p, const std::vector<PipelineRunRecord>& runs) {
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
  for (const auto* a :
       {&id, &pipeline, &counter, &label, &state, &rev, &kind, &user, &msg, &created, &fin})
    p->push_back(a->str());
}

void UpdateRuns(std::vector<std::string>* p, const std::vector<PipelineRunRecord>& runs) {
  PgArray id, state, fin;
  for (const auto& r : runs) {
    id.Add(r.id);
    state.Add(Str(Name(r.state)));
    fin.Add(r.finished_at);
  }
  for (const auto* a : {&id, &state, &fin}) p->push_back(a->str());
}

void InsertMaterials(std::vector<std::string>* p, const std::vector<RunMaterialRow>& rows) {
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
  for (const auto* a : {&run, &name, &type, &rev, &up_p, &up_c, &up_s, &up_sc})
    p->push_back(a->str());
}

void InsertVariables(std::vector<std::string>* p, const std::vector<RunVariableRow>& rows) {
  PgArray run, position, name, value, secure;
  for (const auto& row : rows) {
    run.Add(row.run_id);
    position.Add(static_cast<int64_t>(row.position));
    name.Add(row.variable.name);
    value.Add(row.variable.value);
    secure.Add(row.variable.secure);
  }
  for (const auto* a : {&run, &position, &name, &value, &secure}) p->push_back(a->str());
}

void InsertStages(std::vector<std::string>* p, const std::vector<StageRunRecord>& stages) {
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
  for (const auto* a :
       {&id, &run, &pipeline, &name, &idx, &counter, &state, &approval, &approver, &created, &fin})
    p->push_back(a->str());
}

void UpdateStages(std::vector<std::string>* p, const std::vector<StageRunRecord>& stages) {
  PgArray id, state, approver, fin;
  for (const auto& s : stages) {
    id.Add(s.id);
    state.Add(Str(Name(s.state)));
    approver.Add(s.approved_by);
    fin.Add(s.finished_at);
  }
  for (const auto* a : {&id, &state, &approver, &fin}) p->push_back(a->str());
}

void InsertJobs(std::vector<std::string>* p, const std::vector<JobRunRecord>& jobs) {
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
  for (const auto* a :
       {&id, &stage, &name, &cfg, &state, &agent, &reason, &sched, &asg, &st, &fin, &cancel, &pin})
    p->push_back(a->str());
}

void UpdateJobs(std::vector<std::string>* p, const std::vector<JobRunRecord>& jobs) {
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
  for (const auto* a :
       {&id, &state, &agent, &reason, &asg, &st, &fin, &cancel, &bytes, &seq, &trunc})
    p->push_back(a->str());
}

void InsertConsole(std::vector<std::string>* p, const std::vector<ConsoleChunkRow>& chunks) {
  PgArray job, seq, start, hex;
  for (const auto& c : chunks) {
    job.Add(c.job_run_id);
    seq.Add(c.sequence);
    start.Add(c.start_offset);
    hex.Add(absl::BytesToHexString(c.data));
  }
  for (const auto* a : {&job, &seq, &start, &hex}) p->push_back(a->str());
}

void InsertApprovals(std::vector<std::string>* p, const std::vector<StageApprovalRecord>& rows) {
  PgArray stage, user, at, comment, run, stage_name;
  for (const auto& a : rows) {
    stage.Add(a.stage_run_id);  // 0: before the quorum, stored as NULL
    user.Add(a.user);
    at.Add(a.at);
    comment.Add(a.comment);
    run.Add(a.run_id);
    stage_name.Add(a.stage);
  }
  for (const auto* a : {&stage, &user, &at, &comment, &run, &stage_name}) p->push_back(a->str());
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
  if (b.empty()) return;
  std::vector<std::string> p;
  PgArray name, counter;
  for (const auto& [pipeline, last] : b.counters) {
    name.Add(pipeline);
    counter.Add(last);
  }
  p.push_back(name.str());
  p.push_back(counter.str());
  InsertRuns(&p, b.new_runs);
  InsertMaterials(&p, b.materials);
  InsertVariables(&p, b.variables);
  InsertStages(&p, b.new_stages);
  InsertJobs(&p, b.new_jobs);
  UpdateRuns(&p, b.changed_runs);
  UpdateStages(&p, b.changed_stages);
  UpdateJobs(&p, b.changed_jobs);
  InsertConsole(&p, b.console);
  InsertApprovals(&p, b.approvals);
  work_.exec_prepared(kApplyWrites, pqxx::prepare::make_dynamic_params(p));
  // After the counters: a pipeline's row exists by then either way.
  if (!b.pipeline_controls.empty()) ApplyPipelineControls(b.pipeline_controls);
  // After the stage runs a rollback names.
  if (!b.rollbacks.empty() || !b.bad_marks.empty() || !b.bad_clears.empty()) {
    ApplyRollbackWrites(b);
  }
  // Rare (re-runs only), so one statement per row after the batch.
  for (const auto& s : b.new_stages) {
    if (s.config_revision == 0 && !s.rerun_failed_jobs) continue;
    work_.exec_params(
        "UPDATE stage_runs SET config_revision = NULLIF($2, 0), rerun_failed_jobs = $3 "
        "WHERE id = $1",
        s.id, s.config_revision, s.rerun_failed_jobs);
  }
  for (const auto& j : b.new_jobs) {
    if (j.copied_from == 0) continue;
    work_.exec_params("UPDATE job_runs SET copied_from = $2 WHERE id = $1", j.id, j.copied_from);
  }
  for (const auto& [run_id, follows] : b.rerun_follows) {
    work_.exec_params("UPDATE pipeline_runs SET rerun_follows = $2 WHERE id = $1", run_id, follows);
  }
}

void Tx::ApplyPipelineControls(const std::vector<PipelineRecord>& rows) {
  PgArray name, paused, by, at, reason, locked, up, upc, ups, upsc, user, msg;
  for (const auto& r : rows) {
    name.Add(r.name);
    paused.Add(r.paused);
    by.Add(r.paused_by);
    at.Add(r.paused_at);
    reason.Add(r.pause_reason);
    locked.Add(r.locked_by);
    up.Add(r.waiting.upstream_pipeline);
    upc.Add(r.waiting.upstream_counter);
    ups.Add(r.waiting.upstream_stage);
    upsc.Add(static_cast<int64_t>(r.waiting.upstream_stage_counter));
    user.Add(r.waiting.user);
    msg.Add(r.waiting.message);
  }
  std::vector<std::string> p;
  for (const auto* a :
       {&name, &paused, &by, &at, &reason, &locked, &up, &upc, &ups, &upsc, &user, &msg}) {
    p.push_back(a->str());
  }
  work_.exec_prepared(kApplyPipelineControls, pqxx::prepare::make_dynamic_params(p));
}

std::vector<PipelineRecord> Tx::PipelineControls() {
  std::vector<PipelineRecord> out;
  for (const auto& r : work_.exec_prepared(kPipelineControls)) out.push_back(PipelineFromRow(r));
  return out;
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
    out[index.at(r[0].as<int64_t>())].materials.push_back(MaterialFromRow(r, 1));
  }
  for (const auto& r : work_.exec_prepared(kVariablesOfRuns, ids)) {
    out[index.at(r[0].as<int64_t>())].variables.push_back(
        {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<bool>()});
  }
  for (auto& a : ApprovalsOfRuns(run_ids)) {
    out[index.at(a.run_id)].approvals.push_back(std::move(a));
  }
  for (const auto& r : work_.exec_params(
           "SELECT id FROM pipeline_runs WHERE id = ANY($1::bigint[]) AND rerun_follows", ids)) {
    out[index.at(r[0].as<int64_t>())].rerun_follows = true;
  }
  return out;
}

std::vector<StageApprovalRecord> Tx::ApprovalsOfRuns(const std::vector<int64_t>& run_ids) {
  std::vector<StageApprovalRecord> out;
  if (run_ids.empty()) return out;
  for (const auto& r : work_.exec_prepared(kApprovalsOfRuns, IdArray(run_ids))) {
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<int64_t>(),
                   r[3].as<std::string>(), r[4].as<int64_t>(), r[5].as<std::string>()});
  }
  return out;
}

}  // namespace gantry::store
