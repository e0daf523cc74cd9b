#include "controller/store/tx_rows.h"

#include <stdexcept>

namespace gantry::store {
namespace {

// A state column outside the enum cannot happen (CHECK constraints); if it
// does, the row is corrupt and the transaction fails rather than guess.
template <typename E>
E StateOrThrow(std::optional<E> parsed, const pqxx::field& f) {
  if (!parsed) throw std::runtime_error("unknown state '" + f.as<std::string>() + "'");
  return *parsed;
}

}  // namespace

// The *FromRow readers take the columns in the order of RUN_COLUMNS,
// STAGE_COLUMNS and JOB_COLUMNS in statements.cc.
PipelineRunRecord RunFromRow(const pqxx::row& r) {
  PipelineRunRecord run;
  run.id = r[0].as<int64_t>();
  run.pipeline = r[1].as<std::string>();
  run.counter = r[2].as<int64_t>();
  run.label = r[3].as<std::string>();
  run.state = StateOrThrow(ParseRunState(r[4].as<std::string>()), r[4]);
  run.config_revision = r[5].as<int64_t>();
  run.cause_kind = r[6].as<std::string>();
  run.trigger_user = r[7].as<std::string>();
  run.cause_message = r[8].as<std::string>();
  run.created_at = r[9].as<int64_t>();
  run.finished_at = r[10].as<int64_t>();
  return run;
}

StageRunRecord StageFromRow(const pqxx::row& r) {
  StageRunRecord s;
  s.id = r[0].as<int64_t>();
  s.run_id = r[1].as<int64_t>();
  s.name = r[2].as<std::string>();
  s.stage_index = r[3].as<int32_t>();
  s.counter = r[4].as<int32_t>();
  s.state = StateOrThrow(ParseStageState(r[5].as<std::string>()), r[5]);
  s.approval = r[6].as<std::string>();
  s.approved_by = r[7].as<std::string>();
  s.created_at = r[8].as<int64_t>();
  s.finished_at = r[9].as<int64_t>();
  s.pipeline = r[10].as<std::string>();
  s.config_revision = r[11].as<int64_t>();
  s.rerun_failed_jobs = r[12].as<bool>();
  return s;
}

JobRunRecord JobFromRow(const pqxx::row& r) {
  JobRunRecord j;
  j.id = r[0].as<int64_t>();
  j.stage_run_id = r[1].as<int64_t>();
  j.name = r[2].as<std::string>();
  j.config_job = r[3].as<std::string>();
  j.state = StateOrThrow(ParseJobState(r[4].as<std::string>()), r[4]);
  j.agent_id = r[5].as<std::string>();
  j.reason = r[6].as<std::string>();
  j.scheduled_at = r[7].as<int64_t>();
  j.assigned_at = r[8].as<int64_t>();
  j.started_at = r[9].as<int64_t>();
  j.finished_at = r[10].as<int64_t>();
  j.console_bytes = r[11].as<int64_t>();
  j.last_sequence = r[12].as<int64_t>();
  j.cancel_reason = r[13].as<std::string>();
  j.pinned_agent = r[14].as<std::string>();
  j.console_truncated = r[15].as<bool>();
  j.copied_from = r[16].as<int64_t>();
  return j;
}

MaterialRevisionRecord MaterialFromRow(const pqxx::row& r, int first) {
  MaterialRevisionRecord m;
  m.material = r[first].as<std::string>();
  m.type = r[first + 1].as<std::string>();
  m.revision = r[first + 2].as<std::string>();
  m.upstream_pipeline = r[first + 3].as<std::string>();
  m.upstream_counter = r[first + 4].as<int64_t>();
  m.upstream_stage = r[first + 5].as<std::string>();
  m.upstream_stage_counter = r[first + 6].as<int32_t>();
  return m;
}

AgentConfigState AgentStateFromField(const pqxx::field& f) {
  return StateOrThrow(ParseAgentConfigState(f.as<std::string>()), f);
}

PipelineRecord PipelineFromRow(const pqxx::row& r) {
  PipelineRecord p;
  p.name = r[0].as<std::string>();
  p.last_counter = r[1].as<int64_t>();
  p.paused = r[2].as<bool>();
  p.pause_reason = r[3].as<std::string>();
  p.paused_by = r[4].as<std::string>();
  p.paused_at = r[5].as<int64_t>();
  p.locked_by = r[6].as<int64_t>();
  p.waiting.upstream_pipeline = r[7].as<std::string>();
  p.waiting.upstream_counter = r[8].as<int64_t>();
  p.waiting.upstream_stage = r[9].as<std::string>();
  p.waiting.upstream_stage_counter = r[10].as<int32_t>();
  p.waiting.user = r[11].as<std::string>();
  p.waiting.message = r[12].as<std::string>();
  return p;
}

}  // namespace gantry::store
