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

RetentionBatch Tx::DeleteRunFiles(int64_t run_id, int max_rows) {
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
