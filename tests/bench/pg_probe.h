// Reads PostgreSQL's own statistics about the controller's database: how
// many transactions and WAL flushes a workload cost, and (when the
// pg_stat_statements library is loaded) which statements took the time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gantry::bench {

struct PgCounters {
  int64_t xact_commit = 0;   // pg_stat_database, database "gantry"
  int64_t xid = 0;           // pg_current_xact_id(): write transactions
  int64_t wal_bytes = 0;     // pg_current_wal_lsn() in bytes
  int64_t wal_sync = 0;      // pg_stat_wal.wal_sync (WAL fsyncs)
  int64_t wal_write = 0;     // pg_stat_wal.wal_write
};

struct StatementStat {
  std::string query;
  int64_t calls = 0;
  double total_ms = 0;
  double mean_ms = 0;
  int64_t rows = 0;
};

class PgProbe {
 public:
  static absl::StatusOr<std::unique_ptr<PgProbe>> Connect(const std::string& conninfo);
  ~PgProbe();

  absl::StatusOr<PgCounters> Counters();
  // One SHOW value ("fsync" -> "on").
  std::string Setting(const std::string& name);
  // Runs a statement; returns the first column of the first row ("" if none).
  absl::StatusOr<std::string> Scalar(const std::string& sql);

  // pg_stat_statements: whether it is loaded (CREATE EXTENSION if needed).
  bool StatementsAvailable();
  absl::Status ResetStatements();
  absl::StatusOr<std::vector<StatementStat>> TopStatements(int limit);

 private:
  struct Impl;
  explicit PgProbe(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gantry::bench
