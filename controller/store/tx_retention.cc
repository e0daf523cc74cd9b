// Retention's rows (controller/retention/): which runs' files may go, the
// queue of runs being emptied, and the batched deletes themselves.
#include <pqxx/pqxx>

#include "controller/store/pg_array.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

std::string IdArray(const std::vector<int64_t>& ids) {
  PgArray a;
  for (int64_t id : ids) a.Add(id);
  return a.str();
}

std::vector<int64_t> Ids(const pqxx::result& rows) {
  std::vector<int64_t> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r[0].as<int64_t>());
  return out;
}

// DeleteRunFiles for a run some of whose stages say `keep_artifacts: true`
// (GoCD's "never clean up artifacts"): their jobs' artifacts and console
// logs stay. Rare, so not a prepared statement.
RetentionBatch DeleteRunFilesKeeping(pqxx::transaction_base& work_, int64_t run_id, int max_rows,
                                     const std::vector<std::string>& kept_stages) {
  PgArray kept;
  for (const auto& name : kept_stages) kept.Add(name);
  RetentionBatch batch;
  for (const auto& r : work_.exec_params(
           "WITH doomed AS (SELECT a.job_run_id, a.path FROM artifacts a "
           "JOIN job_runs j ON j.id = a.job_run_id JOIN stage_runs s ON s.id = j.stage_run_id "
           "WHERE s.run_id = $1 AND NOT (lower(s.name) = ANY(SELECT lower(k) FROM "
           "unnest($3::text[]) k)) LIMIT $2) DELETE FROM artifacts a USING doomed d "
           "WHERE a.job_run_id = d.job_run_id AND a.path = d.path RETURNING a.sha256, a.size",
           run_id, max_rows, kept.str())) {
    batch.digests.push_back(r[0].as<std::string>());
    batch.artifact_bytes += r[1].as<int64_t>();
    ++batch.artifacts;
  }
  if (batch.artifacts < max_rows) {
    batch.console_chunks = static_cast<int64_t>(
        work_
            .exec_params(
                "WITH doomed AS (SELECT c.job_run_id, c.sequence FROM console_chunks c "
                "JOIN job_runs j ON j.id = c.job_run_id JOIN stage_runs s ON s.id = "
                "j.stage_run_id WHERE s.run_id = $1 AND NOT (lower(s.name) = ANY(SELECT "
                "lower(k) FROM unnest($3::text[]) k)) LIMIT $2) DELETE FROM console_chunks c "
                "USING doomed d WHERE c.job_run_id = d.job_run_id AND c.sequence = d.sequence",
                run_id, max_rows - batch.artifacts, kept.str())
            .affected_rows());
  }
  if (batch.artifacts == 0 && batch.console_chunks == 0) {
    work_.exec_prepared(kRetentionDone, run_id);
    batch.done = true;
  }
  return batch;
}

}  // namespace

std::vector<int64_t> Tx::RunsAndTheirUpstreams(const std::vector<int64_t>& run_ids) {
  if (run_ids.empty()) return {};
  return Ids(work_.exec_prepared(kRetentionKeptClosure, IdArray(run_ids)));
}

std::vector<int64_t> Tx::RetentionCandidates(int keep_runs, int64_t keep_seconds,
                                             const std::vector<int64_t>& kept, int limit) {
  return Ids(
      work_.exec_prepared(kRetentionCandidates, keep_runs, keep_seconds, IdArray(kept), limit));
}

std::vector<int64_t> Tx::MarkFilesRemoved(const std::vector<int64_t>& run_ids) {
  if (run_ids.empty()) return {};
  return Ids(work_.exec_prepared(kRetentionMark, IdArray(run_ids)));
}

std::vector<int64_t> Tx::RetentionQueue(int limit) {
  return Ids(work_.exec_prepared(kRetentionQueue, limit));
}

RetentionBatch Tx::DeleteRunFiles(int64_t run_id, int max_rows,
                                  const std::vector<std::string>& kept_stages) {
  if (!kept_stages.empty()) return DeleteRunFilesKeeping(work_, run_id, max_rows, kept_stages);
  RetentionBatch batch;
  for (const auto& r : work_.exec_prepared(kRetentionDeleteArtifacts, run_id, max_rows)) {
    batch.digests.push_back(r[0].as<std::string>());
    batch.artifact_bytes += r[1].as<int64_t>();
    ++batch.artifacts;
  }
  if (batch.artifacts < max_rows) {
    batch.console_chunks = static_cast<int64_t>(
        work_.exec_prepared(kRetentionDeleteConsole, run_id, max_rows - batch.artifacts)
            .affected_rows());
  }
  if (batch.artifacts == 0 && batch.console_chunks == 0) {
    work_.exec_prepared(kRetentionDone, run_id);
    batch.done = true;
  }
  return batch;
}

bool Tx::JobFilesPresent(int64_t attempt_id) {
  auto rows = work_.exec_params(
      "SELECT EXISTS (SELECT 1 FROM artifacts WHERE job_run_id = $1) "
      "OR EXISTS (SELECT 1 FROM console_chunks WHERE job_run_id = $1)",
      attempt_id);
  return rows[0][0].as<bool>();
}

std::vector<std::string> Tx::ReferencedDigests(const std::vector<std::string>& digests) {
  std::vector<std::string> out;
  if (digests.empty()) return out;
  PgArray a;
  for (const auto& d : digests) a.Add(d);
  for (const auto& r : work_.exec_prepared(kReferencedDigests, a.str())) {
    out.push_back(r[0].as<std::string>());
  }
  return out;
}

std::optional<int64_t> Tx::FilesRemovedAt(int64_t run_id) {
  auto rows = work_.exec_prepared(kFilesRemovedAt, run_id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<int64_t>();
}

}  // namespace gantry::store
