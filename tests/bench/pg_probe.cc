#include "tests/bench/pg_probe.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace gantry::bench {

struct PgProbe::Impl {
  std::string conninfo;
  std::unique_ptr<pqxx::connection> conn;

  // Runs `fn` on a connection, dialling a new one if the old one broke: the
  // controller's restart (scale scenario) restarts its PostgreSQL, and with
  // --smoke every later scenario shares this probe. A statement that fails
  // on a connection broken meanwhile is run once more on a fresh one.
  template <typename Fn>
  auto Run(Fn fn) -> decltype(fn(*conn)) {
    for (int attempt = 0;; ++attempt) {
      try {
        if (conn == nullptr || !conn->is_open()) {
          conn = std::make_unique<pqxx::connection>(conninfo);
        }
        return fn(*conn);
      } catch (const pqxx::broken_connection&) {
        conn.reset();
        if (attempt > 0) throw;
      }
    }
  }
};

PgProbe::PgProbe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgProbe::~PgProbe() = default;

absl::StatusOr<std::unique_ptr<PgProbe>> PgProbe::Connect(const std::string& conninfo) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->conninfo = conninfo;
    impl->conn = std::make_unique<pqxx::connection>(conninfo);
    return std::unique_ptr<PgProbe>(new PgProbe(std::move(impl)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", e.what()));
  }
}

absl::StatusOr<std::string> PgProbe::Scalar(const std::string& sql) {
  try {
    return impl_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      pqxx::result r = tx.exec(sql);
      if (r.empty() || r[0].empty() || r[0][0].is_null()) return std::string();
      return r[0][0].as<std::string>();
    });
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(sql, ": ", e.what()));
  }
}

std::string PgProbe::Setting(const std::string& name) {
  auto v = Scalar("SHOW " + name);
  return v.ok() ? *v : "?";
}

absl::StatusOr<PgCounters> PgProbe::Counters() {
  try {
    return impl_->Run([](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      PgCounters c;
      // Statistics are flushed by backends at most once a second: make ours
      // current; the controller's may lag (see docs/performance.md).
      pqxx::result r = tx.exec(
          "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),"
          " pg_current_xact_id()::text::bigint,"
          " pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,"
          " (SELECT wal_sync FROM pg_stat_wal), (SELECT wal_write FROM pg_stat_wal)");
      c.xact_commit = r[0][0].as<int64_t>();
      c.xid = r[0][1].as<int64_t>();
      c.wal_bytes = r[0][2].as<int64_t>();
      c.wal_sync = r[0][3].as<int64_t>();
      c.wal_write = r[0][4].as<int64_t>();
      return c;
    });
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reading PostgreSQL counters: ", e.what()));
  }
}

bool PgProbe::StatementsAvailable() {
  auto loaded = Scalar("SELECT current_setting('shared_preload_libraries')");
  if (!loaded.ok() || loaded->find("pg_stat_statements") == std::string::npos) return false;
  return Scalar("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").ok();
}

absl::Status PgProbe::ResetStatements() {
  return Scalar("SELECT pg_stat_statements_reset()").status();
}

absl::StatusOr<std::vector<StatementStat>> PgProbe::TopStatements(int limit) {
  try {
    return impl_->Run([limit](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      pqxx::result r = tx.exec(absl::StrCat(
          "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time,"
          " mean_exec_time, rows FROM pg_stat_statements"
          " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
          " ORDER BY total_exec_time DESC LIMIT ",
          limit));
      std::vector<StatementStat> out;
      for (const auto& row : r) {
        StatementStat s;
        s.query = row[0].as<std::string>();
        s.calls = row[1].as<int64_t>();
        s.total_ms = row[2].as<double>();
        s.mean_ms = row[3].as<double>();
        s.rows = row[4].as<int64_t>();
        out.push_back(std::move(s));
      }
      return out;
    });
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reading pg_stat_statements: ", e.what()));
  }
}

}  // namespace gantry::bench
