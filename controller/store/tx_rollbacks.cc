// Rollbacks and the versions they mark bad (migration 0010,
// docs/rollback.md). Both are rare operator acts, so plain parameterised
// statements, not prepared ones.
#include <map>
#include <pqxx/pqxx>

#include "controller/store/pg_array.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

#define MS(col) "coalesce((extract(epoch from " col ") * 1000)::bigint, 0)"

std::string Ids(const std::vector<int64_t>& ids) {
  PgArray a;
  for (int64_t id : ids) a.Add(id);
  return a.str();
}

}  // namespace

void Tx::ApplyRollbackWrites(const WriteBatch& b) {
  for (const RollbackRecord& r : b.rollbacks) {
    work_.exec_params(
        "INSERT INTO rollbacks (environment, stage_run_id, from_run_id, to_run_id, "
        "requested_by, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, "
        "to_timestamp($7 / 1000.0))",
        r.environment, r.stage_run_id, r.from_run_id, r.to_run_id, r.by, r.reason, r.at);
  }
  for (const BadVersionRecord& m : b.bad_marks) {
    // A mark that already holds stays as it was (the first reason counts).
    work_.exec_params(
        "INSERT INTO bad_versions (environment, run_id, marked_by, reason, marked_at) "
        "VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0)) ON CONFLICT DO NOTHING",
        m.environment, m.run_id, m.marked_by, m.reason, m.marked_at);
  }
  for (const BadVersionRecord& m : b.bad_clears) {
    work_.exec_params(
        "UPDATE bad_versions SET cleared_by = $3, cleared_at = to_timestamp($4 / 1000.0), "
        "clear_reason = $5 WHERE environment = $1 AND run_id = $2 AND cleared_at IS NULL",
        m.environment, m.run_id, m.cleared_by, m.cleared_at, m.clear_reason);
  }
}

std::vector<BadVersionRecord> Tx::BadVersions(const std::string& environment,
                                              bool include_cleared) {
  std::vector<BadVersionRecord> out;
  std::map<int64_t, std::vector<size_t>> by_run;
  for (const auto& r : work_.exec_params(
           "SELECT b.environment, b.run_id, r.pipeline, r.counter, r.label, b.marked_by, "
           "b.reason, " MS("b.marked_at") ", coalesce(b.cleared_by, ''), " MS(
               "b.cleared_at") ", coalesce(b.clear_reason, '') FROM bad_versions b JOIN "
                               "pipeline_runs r ON r.id = b.run_id WHERE ($1 = '' OR "
                               "b.environment = $1) AND ($2 OR b.cleared_at IS NULL) "
                               "ORDER BY b.id DESC",
           environment, include_cleared)) {
    BadVersionRecord m;
    m.environment = r[0].as<std::string>();
    m.run_id = r[1].as<int64_t>();
    m.pipeline = r[2].as<std::string>();
    m.counter = r[3].as<int64_t>();
    m.label = r[4].as<std::string>();
    m.marked_by = r[5].as<std::string>();
    m.reason = r[6].as<std::string>();
    m.marked_at = r[7].as<int64_t>();
    m.cleared_by = r[8].as<std::string>();
    m.cleared_at = r[9].as<int64_t>();
    m.clear_reason = r[10].as<std::string>();
    by_run[m.run_id].push_back(out.size());
    out.push_back(std::move(m));
  }
  if (out.empty()) return out;
  std::vector<int64_t> ids;
  for (const auto& [id, _] : by_run) ids.push_back(id);
  for (const auto& r : work_.exec_params(
           "SELECT run_id, material, type, revision, upstream_pipeline, upstream_counter, "
           "upstream_stage, upstream_stage_counter FROM run_materials WHERE run_id = "
           "ANY($1::bigint[]) ORDER BY run_id, material",
           Ids(ids))) {
    MaterialRevisionRecord m;
    m.material = r[1].as<std::string>();
    m.type = r[2].as<std::string>();
    m.revision = r[3].is_null() ? "" : r[3].as<std::string>();
    m.upstream_pipeline = r[4].is_null() ? "" : r[4].as<std::string>();
    m.upstream_counter = r[5].is_null() ? 0 : r[5].as<int64_t>();
    m.upstream_stage = r[6].is_null() ? "" : r[6].as<std::string>();
    m.upstream_stage_counter = r[7].is_null() ? 0 : r[7].as<int32_t>();
    for (size_t i : by_run[r[0].as<int64_t>()]) out[i].materials.push_back(m);
  }
  return out;
}

std::vector<RollbackRecord> Tx::RollbacksOfStageRuns(const std::vector<int64_t>& stage_run_ids) {
  std::vector<RollbackRecord> out;
  if (stage_run_ids.empty()) return out;
  for (const auto& r : work_.exec_params(
           "SELECT b.environment, b.stage_run_id, b.from_run_id, b.to_run_id, b.requested_by, "
           "b.reason, " MS("b.created_at") ", f.pipeline, f.counter, f.label FROM rollbacks b "
                                           "JOIN pipeline_runs f ON f.id = b.from_run_id "
                                           "WHERE b.stage_run_id = ANY($1::bigint[])",
           Ids(stage_run_ids))) {
    RollbackRecord b;
    b.environment = r[0].as<std::string>();
    b.stage_run_id = r[1].as<int64_t>();
    b.from_run_id = r[2].as<int64_t>();
    b.to_run_id = r[3].as<int64_t>();
    b.by = r[4].as<std::string>();
    b.reason = r[5].as<std::string>();
    b.at = r[6].as<int64_t>();
    b.from_pipeline = r[7].as<std::string>();
    b.from_counter = r[8].as<int64_t>();
    b.from_label = r[9].as<std::string>();
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace gantry::store
