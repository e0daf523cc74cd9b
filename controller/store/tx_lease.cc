// The leader lease (migration 0019, controller/leader/leader_lease.h). Times
// are the database's, so controllers on machines whose clocks differ agree
// on when a lease ran out.
#include <pqxx/pqxx>

#include "controller/store/tx.h"

namespace gantry::store {

std::optional<LeaseRecord> Tx::Lease() {
  auto rows = work_.exec(
      "SELECT epoch, holder_id, holder_instance, holder_address, expires_at < now() "
      "FROM controller_lease WHERE id = 1");
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return LeaseRecord{r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), r[4].as<bool>()};
}

int Tx::EndSessionsOf(const std::string& application_name) {
  // pg_terminate_backend with a timeout waits until each has exited, so no
  // transaction of theirs is still running when this returns.
  auto rows = work_.exec_params(
      "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
      "WHERE application_name = $1 AND pid <> pg_backend_pid()",
      application_name);
  return rows[0][0].as<int>();
}

int64_t Tx::TakeLease(const std::string& holder_id, const std::string& holder_instance,
                      const std::string& address, double timeout_seconds) {
  // A session of the old leader that could not be ended still holds the
  // row FOR SHARE: give up this attempt rather than wait for it forever.
  work_.exec("SET LOCAL lock_timeout = '5s'");
  auto rows = work_.exec_params(
      "INSERT INTO controller_lease AS l (id, epoch, holder_id, holder_instance, holder_address, "
      "acquired_at, renewed_at, expires_at) "
      "VALUES (1, 1, $1, $2, $3, now(), now(), now() + make_interval(secs => $4)) "
      "ON CONFLICT (id) DO UPDATE SET epoch = l.epoch + 1, holder_id = $1, holder_instance = $2, "
      "holder_address = $3, acquired_at = now(), renewed_at = now(), "
      "expires_at = now() + make_interval(secs => $4) "
      "WHERE l.expires_at < now() OR l.holder_id = $1 "
      "RETURNING epoch",
      holder_id, holder_instance, address, timeout_seconds);
  return rows.empty() ? 0 : rows[0][0].as<int64_t>();
}

bool Tx::RenewLease(int64_t epoch, double timeout_seconds) {
  auto rows = work_.exec_params(
      "UPDATE controller_lease SET renewed_at = now(), "
      "expires_at = now() + make_interval(secs => $2) WHERE id = 1 AND epoch = $1 RETURNING 1",
      epoch, timeout_seconds);
  return !rows.empty();
}

void Tx::ReleaseLease(int64_t epoch) {
  work_.exec_params(
      "UPDATE controller_lease SET expires_at = now() - interval '1 millisecond' "
      "WHERE id = 1 AND epoch = $1",
      epoch);
}

}  // namespace gantry::store
