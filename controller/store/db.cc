#include "controller/store/db.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/store/migrations.h"
#include "controller/store/statements.h"
#include "controller/store/tx.h"
#include "controller/store/write_fence.h"

namespace gantry::store {

struct Db::Impl {
  std::string url;
  std::unique_ptr<pqxx::connection> conn;
};

namespace {

// One attempt's outcome: the status, and whether a retry may help.
struct Attempt {
  absl::Status status;
  bool retry = false;
  bool reconnect = false;
};

// The lease's check at the start of a transaction (write_fence.h): OK, or
// the status that ends it.
absl::Status CheckFence(pqxx::work& work) {
  switch (WriteFence::role()) {
    case WriteRole::kOff:
      return absl::OkStatus();
    case WriteRole::kStandby:
      work.exec("SET TRANSACTION READ ONLY");
      return absl::OkStatus();
    case WriteRole::kLeader: {
      pqxx::result r = work.exec_prepared("fence_epoch");
      int64_t found = r.empty() ? 0 : r[0][0].as<int64_t>();
      if (found != WriteFence::epoch()) return WriteFence::Fenced(found);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

Attempt RunOnce(pqxx::connection& conn, const char* operation,
                const std::function<absl::Status(Tx&)>& fn, bool fenced) {
  try {
    pqxx::work work(conn);
    if (fenced) {
      if (absl::Status st = CheckFence(work); !st.ok()) return {st, false, false};
    }
    Tx tx(work);
    absl::Status st = fn(tx);
    if (!st.ok()) return {st, false, false};  // the destructor rolls back
    work.commit();
    return {absl::OkStatus(), false, false};
  } catch (const pqxx::broken_connection& e) {
    return {
        absl::UnavailableError(absl::StrCat(operation, ": lost database connection: ", e.what())),
        true, true};
  } catch (const pqxx::in_doubt_error& e) {
    // The commit may or may not have happened: retrying could apply it twice.
    return {absl::InternalError(absl::StrCat(operation, ": commit in doubt: ", e.what())), false,
            true};
  } catch (const pqxx::serialization_failure& e) {
    return {absl::AbortedError(absl::StrCat(operation, ": ", e.what())), true, false};
  } catch (const pqxx::deadlock_detected& e) {
    return {absl::AbortedError(absl::StrCat(operation, ": ", e.what())), true, false};
  } catch (const pqxx::sql_error& e) {
    // A server shutting down or restarting reports admin_shutdown (57P01) or
    // cannot_connect_now (57P03): the connection is gone, retry on a new one.
    std::string state = e.sqlstate();
    if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
      return {absl::UnavailableError(absl::StrCat(operation, ": ", e.what())), true, true};
    }
    return {absl::InternalError(absl::StrCat(operation, ": ", e.what())), false, false};
  } catch (const std::exception& e) {
    return {absl::InternalError(absl::StrCat(operation, ": ", e.what())), false, !conn.is_open()};
  }
}

std::mutex application_name_mu;
std::string application_name;

std::string ApplicationName() {
  std::lock_guard<std::mutex> lock(application_name_mu);
  return application_name;
}

// Every connection Db opens, first or after a reconnect, gets the store's
// statements: a Tx runs nothing but prepared statements, and a new server
// session (e.g. after PostgreSQL restarted) knows none of them.
absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenConnection(const std::string& url) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
    PrepareStatements(*conn);
    conn->prepare("fence_epoch", "SELECT epoch FROM controller_lease WHERE id = 1 FOR SHARE");
    // Names the session, so a controller taking over can end the old
    // leader's sessions (controller/leader/leader_lease.cc).
    std::string name = ApplicationName();
    if (!name.empty()) {
      pqxx::nontransaction set(*conn);
      set.exec("SET application_name = " + set.quote(name));
    }
    return conn;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", e.what()));
  }
}

std::atomic<bool> abandon_retries{false};

absl::Status ShuttingDown(const char* operation) {
  return absl::UnavailableError(absl::StrCat(operation, ": shutting down"));
}

}  // namespace

void Db::AbandonRetries() { abandon_retries = true; }

void Db::SetApplicationName(const std::string& name) {
  std::lock_guard<std::mutex> lock(application_name_mu);
  application_name = name;
}

Db::Db(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Db::~Db() = default;

absl::StatusOr<std::unique_ptr<Db>> Db::Connect(const std::string& url,
                                                absl::Duration connect_deadline) {
  absl::Time deadline = absl::Now() + connect_deadline;
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  while (true) {
    auto conn = OpenConnection(url);
    if (conn.ok()) {
      impl->conn = std::move(*conn);
      break;
    }
    if (absl::Now() > deadline) return conn.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::unique_ptr<Db>(new Db(std::move(impl)));
}

absl::Status Db::Run(const char* operation, const std::function<absl::Status(Tx&)>& fn) {
  absl::Time deadline = absl::Now() + retry_deadline_;
  auto backoff = std::chrono::milliseconds(50);
  int attempt = 0;
  while (true) {
    ++attempt;
    if (!impl_->conn || !impl_->conn->is_open()) {
      auto conn = OpenConnection(impl_->url);
      if (conn.ok()) {
        impl_->conn = std::move(*conn);
        spdlog::info("reconnected to PostgreSQL");
      } else if (absl::Now() > deadline) {
        return conn.status();
      } else if (abandon_retries) {
        return ShuttingDown(operation);
      } else {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
    }
    Attempt result = RunOnce(*impl_->conn, operation, fn, fenced_);
    if (result.reconnect) impl_->conn.reset();
    if (result.status.ok() || !result.retry || absl::Now() > deadline) {
      return result.status;
    }
    if (abandon_retries) return ShuttingDown(operation);
    if (attempt == 1 || attempt % 10 == 0) {
      spdlog::warn("{} (attempt {}), retrying", result.status.ToString(), attempt);
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

absl::Status Db::Migrate() {
  const auto& migrations = AllMigrations();
  int known = migrations.empty() ? 0 : migrations.back().version;
  for (const Migration& m : migrations) {
    bool applied_now = false;
    // An empty transaction through Run reconnects if the connection dropped.
    RETURN_IF_ERROR(Run("Connect", [](Tx&) { return absl::OkStatus(); }));
    try {
      pqxx::work work(*impl_->conn);
      // Serialises controllers starting together on one database.
      work.exec("SELECT pg_advisory_xact_lock(7163001)");
      work.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY "
          "KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      auto newest = work.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
      int current = newest[0][0].as<int>();
      if (current > known) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the database schema is at version ", current, " but this controller knows only up to ",
            known, ": run a newer gantry-controller"));
      }
      // Versions are applied when not recorded, not only above the newest:
      // two branches may add migrations out of order, and a gap left by one
      // landing later must still be filled.
      auto recorded =
          work.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
      if (recorded.empty()) {
        work.exec(m.sql);
        work.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                         m.name);
        applied_now = true;
      }
      work.commit();
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("migration ", m.version, " (", m.name, ") failed: ", e.what()));
    }
    if (applied_now) spdlog::info("applied migration {} {}", m.version, m.name);
  }
  if (migrations.empty()) return absl::InternalError("no migrations compiled in");
  return absl::OkStatus();
}

}  // namespace gantry::store
