#include "controller/materials/material_poller.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/config/material_filter.h"
#include "common/git/git_command.h"
#include "controller/materials/git_credentials.h"
#include "controller/store/tx.h"
#include "spdlog/spdlog.h"

namespace gantry {
namespace {

// GoCD matches a notified URL to materials loosely: a trailing "/" or
// ".git" does not matter.
std::string UrlForMatching(std::string url) {
  absl::string_view u = url;
  absl::ConsumeSuffix(&u, "/");
  absl::ConsumeSuffix(&u, ".git");
  return std::string(u);
}

std::string CauseMessage(const std::string& material, const std::vector<git::CommitInfo>& commits) {
  if (commits.empty()) return material;
  const git::CommitInfo& c = commits.front();
  std::string text =
      absl::StrCat(material, " ", c.sha.substr(0, 12), " by ", c.author, ": ", c.message);
  if (commits.size() > 1) absl::StrAppend(&text, " (+", commits.size() - 1, " more)");
  return text;
}

}  // namespace

MaterialPoller::MaterialPoller(PollerOptions options, ConfigCache* configs,
                               std::unique_ptr<store::Db> db, TriggerFn trigger)
    : options_(std::move(options)),
      configs_(configs),
      trigger_(std::move(trigger)),
      db_(std::move(db)),
      rng_(std::random_device{}()) {}

MaterialPoller::~MaterialPoller() { Stop(); }

absl::Status MaterialPoller::Start() {
  std::vector<store::LastGitRevisionRecord> last;
  {
    absl::MutexLock l(&db_mu_);
    absl::Status st = db_->Run("LastGitRevisions", [&](store::Tx& tx) {
      last = tx.LastGitRevisions();
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
  }
  {
    absl::MutexLock l(&mu_);
    for (auto& r : last) built_[{r.pipeline, r.material}] = r.revision;
  }
  workers_ = std::make_unique<WorkerPool>(std::max(1, options_.workers));
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void MaterialPoller::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
  // Fetches in flight end within their git timeout.
  if (workers_) workers_->Shutdown();
  workers_.reset();
}

GitMirror MaterialPoller::MirrorOf(const std::string& url) const {
  GitMirror mirror(options_.mirror_root, url, options_.git_timeout);
  // `username` / `encrypted_password` of the materials (git_credentials.h).
  GitCredentials c = CredentialsForUrl(*configs_->current(), url);
  mirror.set_credentials(std::move(c.username), std::move(c.password));
  return mirror;
}

absl::Duration MaterialPoller::Jittered(absl::Duration d) {
  std::uniform_real_distribution<double> u(-options_.jitter, options_.jitter);
  return d * (1.0 + u(rng_));
}

void MaterialPoller::Refresh() {
  int64_t revision = configs_->current_revision();
  if (revision == config_revision_) return;
  config_revision_ = revision;
  auto config = configs_->current();
  std::map<Key, std::vector<Subscriber>> wanted;
  for (const auto& p : config->pipelines) {
    for (const auto& m : p.materials) {
      if (m.type != config::Material::Type::kGit) continue;
      config::Material filter;
      filter.ignore = m.ignore;
      filter.includes = m.includes;
      wanted[{m.url, m.branch}].push_back({p.name, m.name, m.auto_update,
                                           SharedThroughUpstream(*config, p, m),
                                           m.ignore_for_scheduling, std::move(filter)});
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (wanted.count(it->first) == 0 && !it->second.in_flight) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, subs] : wanted) {
    Entry& e = entries_[key];  // a new one is due at once
    e.polled = false;
    for (const auto& s : subs) e.polled |= s.auto_update;
    e.subscribers = std::move(subs);
  }
}

void MaterialPoller::Loop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    Refresh();
    absl::Time now = absl::Now();
    absl::Time next = now + options_.config_check;
    for (auto& [key, e] : entries_) {
      if (e.in_flight) continue;
      if (e.notified || (e.polled && e.due <= now)) {
        e.in_flight = true;
        bool notified = e.notified;
        e.notified = false;
        workers_->Post([this, key = key, notified] { Poll(key, notified); });
      } else if (e.polled) {
        next = std::min(next, e.due);
      }
    }
    wake_ = false;
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](MaterialPoller* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                                return p->wake_ || p->stopping_;
                              },
                              this),
                          next);
  }
}

void MaterialPoller::Poll(Key key, bool notified) {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;  // queued before Stop: not worth a fetch now
  }
  const auto& [url, branch] = key;
  GitMirror mirror = MirrorOf(url);
  absl::StatusOr<std::string> head = mirror.Fetch(branch);
  {
    absl::MutexLock l(&mu_);
    ++fetches_;
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.in_flight = false;
    if (e.notified) wake_ = true;
    if (!head.ok()) {
      ++e.failures;
      absl::Duration backoff =
          std::min(options_.interval * std::pow(2.0, std::min(e.failures - 1, 20)),
                   std::max(options_.max_backoff, options_.interval));
      e.due = absl::Now() + Jittered(backoff);
      std::string error(head.status().message());
      // Quiet while a failure repeats itself: once when it starts or changes.
      if (error != e.last_error) {
        spdlog::warn("material {} ({}): {}; retrying with backoff", git::RedactUrl(url), branch,
                     error);
        e.last_error = error;
      }
      return;
    }
    if (e.failures > 0) {
      spdlog::info("material {} ({}): fetched again", git::RedactUrl(url), branch);
    }
    e.failures = 0;
    e.last_error.clear();
    e.due = absl::Now() + Jittered(options_.interval);
    e.head = *head;
  }
  OnHead(key, *head, notified);
}

void MaterialPoller::OnHead(const Key& key, const std::string& head, bool notified) {
  struct Todo {
    Subscriber s;
    std::string since;
  };
  std::vector<Todo> todo;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    for (const Subscriber& s : it->second.subscribers) {
      if (s.shared_upstream) continue;            // fan-in: its upstream brings the commit
      if (s.ignore_for_scheduling) continue;      // polled for its revision, never a trigger
      if (!s.auto_update && !notified) continue;  // only a notify triggers it
      std::string& built = built_[{s.pipeline, s.material}];
      if (built == head) continue;
      if (auto f = filtered_.find({s.pipeline, s.material});
          f != filtered_.end() && f->second == head) {
        continue;  // its filter left this head out already
      }
      todo.push_back({s, built});
      built = head;  // a trigger is on its way
    }
  }
  for (const Todo& t : todo) TriggerPipeline(t.s, key, head, t.since);
}

void MaterialPoller::TriggerPipeline(const Subscriber& s, const Key& key, const std::string& head,
                                     const std::string& since) {
  GitMirror mirror = MirrorOf(key.first);
  if (!s.filter.ignore.empty() || !s.filter.includes.empty()) {
    // GoCD's filters look at the files the new commits changed; the first
    // build of a material (nothing to compare with) always runs.
    auto files = mirror.ChangedFiles(since, head);
    if (files.ok() && !config::FilesTrigger(s.filter, *files)) {
      spdlog::info(
          "{}: commits of {} up to {} change only files its filter leaves out; "
          "not triggered",
          s.pipeline, s.material, head.substr(0, 12));
      absl::MutexLock l(&mu_);
      filtered_[{s.pipeline, s.material}] = head;
      std::string& built = built_[{s.pipeline, s.material}];
      if (built == head) built = since;
      return;
    }
  }
  auto commits = mirror.CommitsBetween(since, head, options_.max_commits);
  if (!commits.ok()) {
    spdlog::warn("material {} of {}: cannot list commits: {}", s.material, s.pipeline,
                 std::string(commits.status().message()));
    commits = std::vector<git::CommitInfo>{};
  }
  std::vector<store::MaterialCommitRecord> rows;
  for (const auto& c : *commits) rows.push_back({c.sha, c.author, c.message, c.time_unix});
  {
    // Recorded before the trigger: a run at this revision always has them.
    absl::MutexLock l(&db_mu_);
    absl::Status st = db_->Run("RecordMaterialCommits", [&](store::Tx& tx) {
      tx.RecordMaterialCommits(s.pipeline, s.material, head, rows);
      return absl::OkStatus();
    });
    if (!st.ok()) {
      spdlog::warn("material {} of {}: cannot record commits: {}", s.material, s.pipeline,
                   std::string(st.message()));
    }
  }
  TriggerSpec spec;
  spec.pipeline = s.pipeline;
  spec.cause_kind = "material";
  spec.message = CauseMessage(s.material, *commits);
  spec.revisions[s.material] = head;
  trigger_(std::move(spec), [this, s, head, since](absl::StatusOr<v1::PipelineRun> run) {
    if (run.ok()) {
      spdlog::info("{}/{} triggered by {} at {}", run->pipeline(), run->counter(), s.material,
                   head.substr(0, 12));
      return;
    }
    // Not built: the next fetch tries again (a paused pipeline runs once it
    // is unpaused and the material is polled).
    spdlog::info("{}: new commit {} of {} not triggered: {}", s.pipeline, head.substr(0, 12),
                 s.material, std::string(run.status().message()));
    absl::MutexLock l(&mu_);
    std::string& built = built_[{s.pipeline, s.material}];
    if (built == head) built = since;
  });
}

absl::StatusOr<int> MaterialPoller::Notify(const std::string& url) {
  absl::MutexLock l(&mu_);
  Refresh();
  int n = 0;
  std::string want = UrlForMatching(url);
  for (auto& [key, e] : entries_) {
    if (UrlForMatching(key.first) != want) continue;
    e.notified = true;
    ++n;
  }
  if (notify_listener_) n += notify_listener_(url);
  if (n == 0) {
    return absl::NotFoundError(
        absl::StrCat("no git material in the config in force has the URL ", git::RedactUrl(url)));
  }
  wake_ = true;
  return n;
}

void MaterialPoller::SetNotifyListener(std::function<int(const std::string& url)> listener) {
  absl::MutexLock l(&mu_);
  notify_listener_ = std::move(listener);
}

absl::StatusOr<int> MaterialPoller::NotifyPush(const PushEvent& event) {
  // The whole repository is fetched (every branch in use): a push to a
  // branch no material follows costs one cheap fetch, and is rare.
  int n = 0;
  for (const auto& url : event.repository_urls) {
    auto queued = Notify(url);
    if (queued.ok()) n += *queued;
  }
  if (n == 0) {
    return absl::NotFoundError(
        absl::StrCat("no git material uses the repository pushed to (", event.ref, ")"));
  }
  return n;
}

std::string MaterialPoller::Head(const std::string& url, const std::string& branch) const {
  absl::MutexLock l(&mu_);
  auto it = entries_.find({url, branch});
  return it == entries_.end() ? "" : it->second.head;
}

void MaterialPoller::ResolveTrigger(TriggerSpec spec,
                                    std::function<void(absl::StatusOr<TriggerSpec>)> done) {
  auto resolve = [this, spec = std::move(spec), done = std::move(done)]() mutable {
    auto config = configs_->current();
    const config::Pipeline* p = config->FindPipeline(spec.pipeline);
    for (auto& [material, rev] : spec.revisions) {
      const config::Material* m = p ? p->FindMaterial(material) : nullptr;
      if (m == nullptr || m->type != config::Material::Type::kGit) continue;  // the planner's
      auto sha = ResolveRevision(spec.pipeline, material, rev);
      if (!sha.ok()) {
        done(sha.status());
        return;
      }
      rev = *sha;
    }
    done(std::move(spec));
  };
  if (workers_) {
    workers_->Post(std::move(resolve));
  } else {
    resolve();
  }
}

int64_t MaterialPoller::fetches() const {
  absl::MutexLock l(&mu_);
  return fetches_;
}

absl::StatusOr<std::string> MaterialPoller::ResolveRevision(const std::string& pipeline,
                                                            const std::string& material,
                                                            const std::string& rev) {
  auto config = configs_->current();
  const config::Pipeline* p = config->FindPipeline(pipeline);
  const config::Material* m = p ? p->FindMaterial(material) : nullptr;
  if (m == nullptr || m->type != config::Material::Type::kGit) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", pipeline, "' has no git material named '", material, "'"));
  }
  GitMirror mirror = MirrorOf(m->url);
  auto sha = mirror.Resolve(rev);
  if (!sha.ok() && !absl::IsInvalidArgument(sha.status())) {
    // Not fetched yet (or newer than the last fetch): fetch once and look again.
    auto fetched = mirror.Fetch(m->branch);
    if (!fetched.ok()) return fetched.status();
    sha = mirror.Resolve(rev);
  }
  if (!sha.ok()) {
    return absl::Status(sha.status().code(), absl::StrCat("--revision ", material, "=", rev, ": ",
                                                          sha.status().message()));
  }
  auto commits = mirror.CommitsBetween("", *sha, 1);
  if (commits.ok()) {
    std::vector<store::MaterialCommitRecord> rows;
    for (const auto& c : *commits) rows.push_back({c.sha, c.author, c.message, c.time_unix});
    absl::MutexLock l(&db_mu_);
    absl::Status st = db_->Run("RecordMaterialCommits", [&](store::Tx& tx) {
      tx.RecordMaterialCommits(pipeline, material, *sha, rows);
      return absl::OkStatus();
    });
    if (!st.ok()) spdlog::warn("cannot record commit {}: {}", *sha, std::string(st.message()));
  }
  return *sha;
}

}  // namespace gantry
