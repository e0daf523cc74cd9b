// Parsed configs by revision. Runs keep the revision they were created
// from, so scheduling a later stage of an old run uses that run's config.
// Thread-safe: the scheduler strand and the read pool share it.
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

 private:
  mutable absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<const config::Config>> by_revision_
      ABSL_GUARDED_BY(mu_);
  int64_t current_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const config::Config> current_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<config::Config>();
};

}  // namespace gantry
