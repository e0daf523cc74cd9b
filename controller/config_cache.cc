#include "controller/config_cache.h"

#include "absl/strings/str_cat.h"
#include "common/config/config_repo_files.h"
#include "common/config/parser.h"
#include "controller/store/tx.h"

namespace gantry {

absl::StatusOr<std::shared_ptr<const config::Config>> ConfigCache::Get(
    store::Tx& tx, int64_t revision) {
  {
    absl::MutexLock lock(&mu_);
    auto it = by_revision_.find(revision);
    if (it != by_revision_.end()) {
      it->second.used = ++use_clock_;
      return it->second.config;
    }
  }
  auto rec = tx.GetConfigRevision(revision);
  if (!rec) {
    return absl::NotFoundError(absl::StrCat("no config revision ", revision));
  }
  std::vector<config::ConfigFile> files;
  for (const auto& f : rec->files) files.push_back({f.path, f.content});
  config::MarkConfigRepoFiles(files);  // a config repo's pipelines know their repo
  auto parsed = config::ParseConfigOrError(files);
  if (!parsed.ok()) {
    // A stored revision was valid when applied; failing now means this
    // binary's parser changed incompatibly.
    return absl::InternalError(absl::StrCat("stored config revision ", revision,
                                            " no longer parses: ",
                                            parsed.status().message()));
  }
  auto config = std::make_shared<const config::Config>(std::move(*parsed));
  Put(revision, config);
  return config;
}

void ConfigCache::Put(int64_t revision,
                      std::shared_ptr<const config::Config> config) {
  absl::MutexLock lock(&mu_);
  KeepLocked(revision, std::move(config));
}

void ConfigCache::KeepLocked(int64_t revision, std::shared_ptr<const config::Config> config) {
  by_revision_[revision] = Entry{std::move(config), ++use_clock_};
  if (by_revision_.size() <= kKeptRevisions + 1) return;  // + the one in force
  auto oldest = by_revision_.end();
  for (auto it = by_revision_.begin(); it != by_revision_.end(); ++it) {
    if (it->first == current_revision_) continue;
    if (oldest == by_revision_.end() || it->second.used < oldest->second.used) oldest = it;
  }
  if (oldest != by_revision_.end()) by_revision_.erase(oldest);
}

void ConfigCache::Invalidate() {
  absl::MutexLock lock(&mu_);
  by_revision_.clear();
  if (current_revision_ > 0) current_revision_ = -1;  // none applied yet: nothing to redo
}

bool ConfigCache::Holds(int64_t revision) const {
  absl::MutexLock lock(&mu_);
  return by_revision_.count(revision) > 0;
}

int64_t ConfigCache::current_revision() const {
  absl::MutexLock lock(&mu_);
  return current_revision_;
}

std::shared_ptr<const config::Config> ConfigCache::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

void ConfigCache::SetCurrent(int64_t revision,
                             std::shared_ptr<const config::Config> config) {
  absl::MutexLock lock(&mu_);
  current_revision_ = revision;
  current_ = config;
  KeepLocked(revision, std::move(config));
}

}  // namespace gantry
