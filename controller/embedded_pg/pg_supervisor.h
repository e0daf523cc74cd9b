// Watches the embedded PostgreSQL's postmaster and starts it again if it
// dies, so a kill -9 of the postmaster costs a few seconds of database
// outage (which the controller's connections ride out by reconnecting)
// instead of a controller that hangs for good. If the server cannot be
// started again, `on_fatal` is called once: the controller exits non-zero
// with the reason.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/embedded_pg/embedded_postgres.h"

namespace gantry {

class PgSupervisor {
 public:
  struct Options {
    absl::Duration check_every = absl::Seconds(1);
    absl::Duration recover_deadline = absl::Seconds(60);
  };
  PgSupervisor(EmbeddedPostgres* pg, std::function<void(const absl::Status&)> on_fatal,
               Options options);
  ~PgSupervisor();  // Stop()

  // Stops watching (before the server is stopped on purpose). Idempotent.
  void Stop();
  int restarts() const;

 private:
  void Loop();

  EmbeddedPostgres* pg_;
  std::function<void(const absl::Status&)> on_fatal_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int restarts_ = 0;
  std::thread thread_;
};

}  // namespace gantry
