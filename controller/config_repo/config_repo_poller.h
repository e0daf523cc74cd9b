// Config repositories (docs/config-repos.md): pipelines read from YAML files
// in a git repository, as GoCD's config repos.
//
// For each `config_repos` entry of the config in force, the repository is
// fetched into a bare mirror under DIR/config-repos (git_mirror.h) on worker
// threads of its own, every `interval` (± jitter; backoff after failures)
// and at once on `material notify` with its URL. Every git call has a
// timeout; nothing runs on the scheduler strand but the final validation
// and store of the new revision. At a new commit the files matching the
// entry's pattern are read, validated with the rest of the config
// (config_assembly.h), their secure values encrypted as `config apply`
// does, and applied as a new config revision that records the repo and the
// commit. A commit that does not validate is refused whole: its errors
// (paths inside the repository) are kept for `config repo status`, and the
// last good config stays in force; it is tried again when the main config
// changes (it may have been refused for a template the main config lacked).
//
// The state of each repo (last seen and last good commit, errors) is kept
// in config_repo_states, so a restart neither forgets a refusal nor
// re-applies a commit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config/model.h"
#include "controller/config_cache.h"
#include "controller/executor.h"
#include "controller/scheduling/config_apply.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

class Scheduler;

struct ConfigRepoOptions {
  std::string mirror_root;  // DIR/config-repos
  absl::Duration interval = absl::Seconds(60);
  double jitter = 0.1;
  absl::Duration max_backoff = absl::Minutes(30);
  absl::Duration git_timeout = absl::Minutes(2);
  int workers = 2;
  // How often the config in force is looked at for new or removed repos.
  absl::Duration config_check = absl::Seconds(1);
  // At most this many matching files per repo.
  int max_files = 1000;
};

class ConfigRepoPoller {
 public:
  // Runs `make` on the scheduler strand and puts its revision in force
  // (Scheduler::ApplyConfigWith).
  using ApplyFn = std::function<void(std::function<absl::StatusOr<AppliedConfig>(store::Db&)> make,
                                     std::string author, std::function<void(absl::Status)> done)>;

  ConfigRepoPoller(ConfigRepoOptions options, ConfigCache* configs, std::unique_ptr<store::Db> db,
                   ApplyFn apply);
  ~ConfigRepoPoller();

  // Loads the repos' states and the repo files in force; call before the
  // controller serves (ApplyConfig validates against InForceFiles).
  absl::Status Load();
  // Starts polling.
  void Start();
  void Stop();

  // Fetches every config repo with this URL now (a trailing "/" or ".git"
  // does not matter). Returns how many were queued.
  int Notify(const std::string& url);

  // The config repos' files of the revision in force (stored form), for
  // checking a main config before it reaches the strand.
  std::vector<config::ConfigFile> InForceFiles() const;

  // `config repo status`: each repo of the config in force.
  v1::ConfigRepoStatusResponse Status() const;

  // Commits applied and refused since start (tests).
  int64_t applied() const;

 private:
  struct Entry {
    config::ConfigRepo repo;
    std::string source;  // digest of URL, branch, pattern
    absl::Time due = absl::InfinitePast();
    int failures = 0;
    bool in_flight = false;
    bool notified = false;
    std::string last_seen;
    std::string last_good;
    std::string files_hash;
    std::vector<std::string> errors;  // of last_seen when refused
    std::string fetch_error;
    int64_t refused_at_revision = -1;  // config revision in force then
    int64_t checked_at_ms = 0;
  };
  struct Read {
    std::vector<config::ConfigFile> files;  // paths inside the repository
    std::string hash;
  };

  void Loop();
  void Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Poll(std::string id);
  // The files of `commit` matching the repo's pattern, from its mirror.
  absl::StatusOr<Read> ReadFiles(const config::ConfigRepo& repo, const std::string& mirror,
                                 const std::string& commit) const;
  // Validates and encrypts off the strand, then has the strand store it.
  void Apply(const std::string& id, const std::string& commit, Read read);
  void Finish(const std::string& id, const std::string& commit, const std::string& files_hash,
              std::vector<std::string> errors,
              std::shared_ptr<std::vector<config::ConfigFile>> stored);
  void Persist(const std::string& id);
  absl::Duration Jittered(absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ConfigRepoOptions options_;
  ConfigCache* configs_;
  ApplyFn apply_;

  absl::Mutex db_mu_;
  std::unique_ptr<store::Db> db_ ABSL_GUARDED_BY(db_mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // States read at Load, for repos not yet seen in the config in force.
  std::map<std::string, Entry> loaded_ ABSL_GUARDED_BY(mu_);
  std::vector<config::ConfigFile> in_force_ ABSL_GUARDED_BY(mu_);
  int64_t config_revision_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  int64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<WorkerPool> workers_;
  std::thread loop_;
};

// Wires the poller to the scheduler, with its own database connection.
absl::StatusOr<std::unique_ptr<ConfigRepoPoller>> MakeConfigRepoPoller(
    const std::string& data_dir, const std::string& database_url, absl::Duration interval,
    absl::Duration git_timeout, ConfigCache* configs, Scheduler* scheduler);

}  // namespace gantry
