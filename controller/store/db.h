// The database connection and the transaction runner. The only entry point
// to PostgreSQL: callers hand it a function over a Tx and get an absl::Status.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::store {

class Tx;

class Db {
 public:
  // Connects (retrying while the server says it is starting up, up to
  // `connect_deadline`).
  static absl::StatusOr<std::unique_ptr<Db>> Connect(
      const std::string& url, absl::Duration connect_deadline = absl::Seconds(30));
  ~Db();

  // Runs `fn` in one transaction and commits if it returns OK. A lost
  // connection or a serialization failure re-runs `fn` from the start on a
  // fresh transaction (reconnecting, with backoff, up to `retry_deadline`), so
  // `fn` must only touch the database and its own locals. pqxx errors come
  // back as UNAVAILABLE (connection), ABORTED (serialization) or INTERNAL.
  absl::Status Run(const char* operation, const std::function<absl::Status(Tx&)>& fn);

  // Applies pending migrations, each in its own transaction. Refuses to run
  // against a schema newer than this binary knows (FAILED_PRECONDITION).
  absl::Status Migrate();

  void set_retry_deadline(absl::Duration d) { retry_deadline_ = d; }

  // This connection's transactions skip the lease's check (write_fence.h):
  // for connections that only read, and for the lease's own.
  void set_unfenced() { fenced_ = false; }

  // The application_name of every connection opened from now on, so the
  // database can tell whose sessions they are (controller/leader/).
  static void SetApplicationName(const std::string& name);

  // From now on every Db in the process gives up instead of retrying a lost
  // connection (UNAVAILABLE "shutting down"): a controller asked to stop
  // while its database is away stops in seconds, not after the retry
  // deadline. Irreversible; for shutdown.
  static void AbandonRetries();

 private:
  struct Impl;
  explicit Db(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  absl::Duration retry_deadline_ = absl::Seconds(60);
  bool fenced_ = true;
};

}  // namespace gantry::store
