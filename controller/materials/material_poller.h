// Polls git materials (docs/materials.md): one bare mirror per URL under
// DIR/materials (git_mirror.h), one fetch per URL and branch however many
// pipelines use it, on worker threads of its own: never on the scheduler
// strand, and a remote that hangs holds one worker until its git timeout,
// never the others or scheduling.
//
// Each URL+branch is fetched every `interval` (± `jitter`), after a failure
// with a doubling backoff up to `max_backoff`. Materials with
// `auto_update: false` are not polled, only fetched on Notify. When a fetch
// finds a commit a pipeline has not built, the commits since the one it
// built are recorded (material_commits) and the pipeline is triggered with
// that revision (cause "material"). A pipeline that gets the same
// repository through an upstream pipeline is left to that upstream (the
// fan-in rule, controller/planner/git_revisions.h). A material's `ignore` /
// `includes` filters skip new commits that change only files they leave
// out; `ignore_for_scheduling` keeps it polled but never triggering.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/config_cache.h"
#include "controller/executor.h"
#include "controller/materials/git_mirror.h"
#include "controller/planner/git_revisions.h"
#include "controller/planner/planner.h"
#include "controller/store/db.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// A push webhook's payload once the HTTP side has checked its signature
// and parsed it (GitHub, GitLab and Gitea all give the repository's clone
// URLs and the ref pushed).
struct PushEvent {
  std::vector<std::string> repository_urls;  // clone URLs: https, ssh, git
  std::string ref;                           // "refs/heads/main"
};

struct PollerOptions {
  std::string mirror_root;  // DIR/materials
  absl::Duration interval = absl::Seconds(60);
  double jitter = 0.1;  // each wait is interval × (1 ± jitter)
  absl::Duration max_backoff = absl::Minutes(30);
  absl::Duration git_timeout = absl::Minutes(2);
  int workers = 4;
  // Commits listed in a build cause at most (newest first).
  int max_commits = 50;
  // How often the config in force is looked at for new or removed materials.
  absl::Duration config_check = absl::Seconds(1);
};

class MaterialPoller : public GitHeads {
 public:
  // Posts a trigger for the scheduler's inbox; the reply comes after commit.
  using TriggerFn =
      std::function<void(TriggerSpec, std::function<void(absl::StatusOr<v1::PipelineRun>)>)>;

  // `db` is the poller's own connection (commits, start-up revisions).
  MaterialPoller(PollerOptions options, ConfigCache* configs, std::unique_ptr<store::Db> db,
                 TriggerFn trigger);
  ~MaterialPoller() override;

  // Loads the revisions pipelines last built, then starts polling.
  absl::Status Start();
  void Stop();

  // Fetches every material with this URL now (ignoring its backoff and
  // auto_update). Returns how many URL+branch pairs were queued; NotFound if
  // no pipeline in force uses the URL.
  absl::StatusOr<int> Notify(const std::string& url);

  // The seam for push webhooks: Notify for each of the event's URLs that a
  // material uses. NotFound when none is.
  absl::StatusOr<int> NotifyPush(const PushEvent& event);

  // Also told of every Notify (config repositories, controller/config_repo/);
  // returns how many fetches it queued for the URL. Set before Start.
  void SetNotifyListener(std::function<int(const std::string& url)> listener);

  // GitHeads: the newest fetched commit of url/branch, or "".
  std::string Head(const std::string& url, const std::string& branch) const override;

  // `rev` of material `material` of `pipeline` as a full SHA, from the
  // mirror (a fetch first if the mirror lacks it). For `trigger --revision`.
  absl::StatusOr<std::string> ResolveRevision(const std::string& pipeline,
                                              const std::string& material, const std::string& rev);

  // The same for every git material a trigger names, on a worker thread
  // (a fetch may take long); then `done` with the revisions as full SHAs.
  void ResolveTrigger(TriggerSpec spec, std::function<void(absl::StatusOr<TriggerSpec>)> done);

  // Fetches done since start (all URLs), for tests and the benchmark.
  int64_t fetches() const;

 private:
  using Key = std::pair<std::string, std::string>;  // url, branch
  struct Subscriber {
    std::string pipeline;
    std::string material;
    bool auto_update = true;
    bool shared_upstream = false;        // fan-in: triggered by its upstream
    bool ignore_for_scheduling = false;  // polled, never triggers
    // Its filters (common/config/material_filter.h).
    config::Material filter;
  };
  struct Entry {
    std::vector<Subscriber> subscribers;
    bool polled = false;  // some subscriber has auto_update
    absl::Time due = absl::InfinitePast();
    int failures = 0;
    bool in_flight = false;
    bool notified = false;  // fetch again once the one in flight ends
    std::string head;
    std::string last_error;
  };

  void Loop();
  void Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Poll(Key key, bool notified);
  void OnHead(const Key& key, const std::string& head, bool notified);
  void TriggerPipeline(const Subscriber& s, const Key& key, const std::string& head,
                       const std::string& since);
  absl::Duration Jittered(absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  GitMirror MirrorOf(const std::string& url) const;

  PollerOptions options_;
  ConfigCache* configs_;
  TriggerFn trigger_;

  absl::Mutex db_mu_;
  std::unique_ptr<store::Db> db_ ABSL_GUARDED_BY(db_mu_);

  mutable absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // (pipeline, material) -> the revision its newest run built, or the one
  // a trigger is on its way with.
  std::map<std::pair<std::string, std::string>, std::string> built_ ABSL_GUARDED_BY(mu_);
  // (pipeline, material) -> the newest head its filter left out: not looked
  // at again; `built_` stays at the last build, so the next commit that
  // triggers is compared with, and lists the commits since, that build.
  std::map<std::pair<std::string, std::string>, std::string> filtered_ ABSL_GUARDED_BY(mu_);
  int64_t config_revision_ ABSL_GUARDED_BY(mu_) = -1;
  std::function<int(const std::string&)> notify_listener_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  int64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<WorkerPool> workers_;
  std::thread loop_;
};

}  // namespace gantry
