#include "controller/leader/leader_lease.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "controller/store/tx.h"
#include "controller/store/write_fence.h"

namespace gantry {
namespace {

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

std::string LeaderLease::Instance(const std::string& controller_id) {
  return absl::StrCat(controller_id, "/", ::getpid());
}

std::string LeaderLease::ApplicationName(const std::string& instance) {
  return absl::StrCat("gantry ", instance);
}

LeaderLease::LeaderLease(std::unique_ptr<store::Db> db, LeaseOptions options)
    : db_(std::move(db)),
      options_(std::move(options)),
      instance_(Instance(options_.controller_id)) {
  db_->set_unfenced();
  // A renewal that cannot reach the database gives up in time for the next.
  db_->set_retry_deadline(options_.timeout / 4);
}

LeaderLease::~LeaderLease() { Stop(); }

absl::Duration LeaderLease::Poll() const {
  if (options_.poll > absl::ZeroDuration()) return options_.poll;
  return std::min(absl::Milliseconds(500), options_.timeout / 10);
}

absl::StatusOr<bool> LeaderLease::TryAcquire() {
  int64_t epoch = 0;
  std::string address;
  int ended = 0;
  auto started = std::chrono::steady_clock::now();
  absl::Status st = db_->Run("TakeLease", [&](store::Tx& tx) -> absl::Status {
    epoch = 0;
    ended = 0;
    std::optional<store::LeaseRecord> lease = tx.Lease();
    if (lease && !lease->expired && lease->holder_id != options_.controller_id) {
      address = lease->holder_address;
      return absl::OkStatus();
    }
    // Whatever the old holder still has in flight ends here, before the
    // epoch moves: it either committed already or never will.
    if (lease && lease->holder_instance != instance_) {
      ended = tx.EndSessionsOf(ApplicationName(lease->holder_instance));
    }
    epoch = tx.TakeLease(options_.controller_id, instance_, options_.address,
                         Seconds(options_.timeout));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  absl::MutexLock lock(&mu_);
  if (epoch == 0) {
    leader_address_ = address;
    store::WriteFence::SetStandby();
    return false;
  }
  if (ended > 0) spdlog::info("ended {} database sessions of the previous leader", ended);
  local_expiry_ = started + absl::ToChronoSeconds(options_.timeout);
  leader_address_ = options_.address;
  epoch_ = epoch;
  store::WriteFence::SetLeader(epoch);
  leader_ = true;
  spdlog::info("leader lease taken: epoch {}, lease timeout {}", epoch,
               absl::FormatDuration(options_.timeout));
  return true;
}

void LeaderLease::Start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  thread_ = std::thread([this] { Loop(); });
}

void LeaderLease::Stop() {
  if (stop_.HasBeenNotified()) return;
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
  if (leader_ && !lost_) {
    db_->set_retry_deadline(absl::Seconds(2));
    int64_t epoch = epoch_;
    absl::Status st = db_->Run("ReleaseLease", [&](store::Tx& tx) {
      tx.ReleaseLease(epoch);
      return absl::OkStatus();
    });
    if (st.ok()) spdlog::info("leader lease released (epoch {})", epoch);
  }
}

void LeaderLease::Loop() {
  bool announced = leader_;
  if (announced && callbacks_.acquired) callbacks_.acquired(epoch_);
  while (!stop_.WaitForNotificationWithTimeout(leader_ ? options_.timeout / 4 : Poll())) {
    if (leader_) {
      Renew();
      if (lost_) return;
      continue;
    }
    absl::StatusOr<bool> took = TryAcquire();
    if (!took.ok()) {
      spdlog::warn("leader lease: {}", took.status().ToString());
    } else if (*took) {
      if (callbacks_.acquired) callbacks_.acquired(epoch_);
      continue;
    }
    if (callbacks_.standby_poll) callbacks_.standby_poll();
  }
}

void LeaderLease::Renew() {
  auto started = std::chrono::steady_clock::now();
  bool still = false;
  int64_t epoch = epoch_;
  absl::Status st = db_->Run("RenewLease", [&](store::Tx& tx) {
    still = tx.RenewLease(epoch, Seconds(options_.timeout));
    return absl::OkStatus();
  });
  absl::Status lost;
  if (st.ok() && still) {
    absl::MutexLock lock(&mu_);
    local_expiry_ = started + absl::ToChronoSeconds(options_.timeout);
    return;
  }
  if (st.ok()) {
    std::optional<store::LeaseRecord> now;
    (void)db_->Run("Lease", [&](store::Tx& tx) {
      now = tx.Lease();
      return absl::OkStatus();
    });
    // The status only: `lost` below is the one report of it.
    lost = store::WriteFence::FencedStatus(now ? now->epoch : 0);
    if (now) {
      absl::MutexLock lock(&mu_);
      leader_address_ = now->holder_address;
    }
  } else {
    bool expired;
    {
      absl::MutexLock lock(&mu_);
      expired = std::chrono::steady_clock::now() >= local_expiry_;
    }
    spdlog::warn("leader lease: cannot renew: {}", st.ToString());
    if (!expired || !options_.demote_on_expiry) return;
    lost = absl::UnavailableError(absl::StrCat("the leader lease ran out: not renewed for ",
                                               absl::FormatDuration(options_.timeout)));
  }
  // Nothing more is written under this epoch, whatever the callback does.
  store::WriteFence::SetStandby();
  lost_ = true;
  serving_ = false;
  leader_ = false;
  if (callbacks_.lost) callbacks_.lost(lost);
}

v1::LeaderInfo LeaderLease::Info() const {
  v1::LeaderInfo info;
  info.set_leader(serving_);
  info.set_epoch(epoch_);
  info.set_address(options_.address);
  absl::MutexLock lock(&mu_);
  info.set_leader_address(leader_address_);
  return info;
}

absl::Status LeaderLease::NotLeader() const {
  if (leader_) return absl::UnavailableError("not the leader yet (taking over)");
  std::string address;
  {
    absl::MutexLock lock(&mu_);
    address = leader_address_;
  }
  return absl::UnavailableError(address.empty() || address == options_.address
                                    ? "not the leader (no leader yet)"
                                    : absl::StrCat("not the leader (leader at ", address, ")"));
}

absl::StatusOr<std::string> LoadControllerId(const std::string& data_dir) {
  const std::string path = data_dir + "/controller.id";
  std::string id;
  if (auto read = ReadFile(path); read.ok()) id = std::string(absl::StripAsciiWhitespace(*read));
  if (!id.empty()) return id;
  id = RandomHex(8);
  if (auto st = WriteFileAtomic(path, id + "\n", 0644); !st.ok()) return st;
  return id;
}

}  // namespace gantry
