// What the config repo poller keeps across restarts: each repo's state row
// (last seen and last good commit, errors) and the repo files in force,
// read at start and written after every check.
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/config_repo_files.h"
#include "controller/config_repo/config_repo_poller.h"
#include "controller/store/tx.h"
#include "spdlog/spdlog.h"

namespace gantry {

absl::Status ConfigRepoPoller::Load() {
  std::vector<store::ConfigRepoStateRecord> states;
  std::vector<config::ConfigFile> files;
  {
    absl::MutexLock l(&db_mu_);
    absl::Status st = db_->Run("LoadConfigRepos", [&](store::Tx& tx) {
      states = tx.ConfigRepoStates();
      files.clear();
      int64_t current = tx.CurrentConfigRevision();
      if (current > 0) {
        if (auto rec = tx.GetConfigRevision(current)) {
          for (const auto& f : rec->files) {
            std::string repo = config::ConfigRepoOfPath(f.path);
            if (!repo.empty()) files.push_back({f.path, f.content, repo});
          }
        }
      }
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  }
  absl::MutexLock l(&mu_);
  in_force_ = std::move(files);
  for (const auto& s : states) {
    Entry e;
    e.source = s.source;
    e.last_seen = s.last_seen;
    e.last_good = s.last_good;
    e.files_hash = s.files_hash;
    e.fetch_error = s.fetch_error;
    e.checked_at_ms = s.updated_at;
    for (absl::string_view line : absl::StrSplit(s.errors, '\n', absl::SkipEmpty())) {
      e.errors.emplace_back(line);
    }
    loaded_[s.id] = std::move(e);
  }
  return absl::OkStatus();
}

void ConfigRepoPoller::Persist(const std::string& id) {
  store::ConfigRepoStateRecord rec;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    const Entry& e = it->second;
    rec = {id,           e.source,     e.last_seen,
           e.last_good,  e.files_hash, absl::StrJoin(e.errors, "\n"),
           e.fetch_error};
  }
  absl::MutexLock l(&db_mu_);
  absl::Status st = db_->Run("SetConfigRepoState", [&](store::Tx& tx) {
    tx.SetConfigRepoState(rec);
    return absl::OkStatus();
  });
  if (!st.ok()) {
    spdlog::warn("config repo {}: cannot record its state: {}", id, std::string(st.message()));
  }
}

}  // namespace gantry
