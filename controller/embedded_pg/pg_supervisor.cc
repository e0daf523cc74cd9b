#include "controller/embedded_pg/pg_supervisor.h"

#include <spdlog/spdlog.h>

namespace gantry {

PgSupervisor::PgSupervisor(EmbeddedPostgres* pg, std::function<void(const absl::Status&)> on_fatal,
                           Options options)
    : pg_(pg), on_fatal_(std::move(on_fatal)), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

PgSupervisor::~PgSupervisor() { Stop(); }

void PgSupervisor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int PgSupervisor::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

void PgSupervisor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.check_every));
    if (stopping_) return;
    lock.unlock();
    bool dead = pg_->Owned() && !pg_->PostmasterPid().has_value();
    if (dead) {
      spdlog::error("embedded PostgreSQL: the postmaster is gone; starting it again");
      absl::Status st = pg_->Recover(options_.recover_deadline);
      if (!st.ok()) {
        spdlog::error("{}", std::string(st.message()));
        on_fatal_(st);
        return;
      }
    }
    lock.lock();
    if (dead) ++restarts_;
  }
}

}  // namespace gantry
