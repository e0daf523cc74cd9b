// Parsed configs by revision. Runs keep the revision they were created
// from, so scheduling a later stage of an old run uses that run's config.
// Thread-safe: the scheduler strand and the read pool share it.
//
// Bounded: the revision in force and the kKeptRevisions used last stay
// parsed; an older one is parsed again from the database when asked for
// (a re-run of an old run, a history page reaching that far back: enough
// are kept that a page of runs rarely spans more). A controller applying a config repo's commits
// for months would otherwise hold every revision it ever parsed. Runs in
// progress hold their own configs (planner/run_model.h), whatever is here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/config/model.h"

namespace gantry {

namespace store {
class Tx;
}

class ConfigCache {
 public:
  // The config of `revision`, parsing the stored files on first use.
  absl::StatusOr<std::shared_ptr<const config::Config>> Get(store::Tx& tx,
                                                            int64_t revision);
  void Put(int64_t revision, std::shared_ptr<const config::Config> config);

  // The revision in force (0 before the first apply) and its config (an
  // empty config when none).
  int64_t current_revision() const;
  std::shared_ptr<const config::Config> current() const;
  void SetCurrent(int64_t revision, std::shared_ptr<const config::Config> config);

  // Drops every parsed revision, so each is parsed again from the database
  // when next asked for; current() still answers meanwhile, and
  // current_revision() is -1 until SetCurrent (0 stays 0). For a standby whose cipher
  // keys changed: what it parsed before holds values under keys it may no
  // longer have, and a rotation re-encrypts them in place, under the same
  // revision number.
  void Invalidate();

  static constexpr size_t kKeptRevisions = 256;
  // Whether `revision` is parsed and kept (tests).
  bool Holds(int64_t revision) const;

 private:
  struct Entry {
    std::shared_ptr<const config::Config> config;
    uint64_t used = 0;  // use_clock_ when last asked for or put
  };
  void KeepLocked(int64_t revision, std::shared_ptr<const config::Config> config)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<int64_t, Entry> by_revision_ ABSL_GUARDED_BY(mu_);
  uint64_t use_clock_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t current_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const config::Config> current_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<config::Config>();
};

}  // namespace gantry
