#include "controller/config_repo/config_repo_poller.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config/config_repo_files.h"
#include "common/config/limits.h"
#include "common/config/material_filter.h"
#include "common/crypto.h"
#include "common/git/git_command.h"
#include "common/secrets/cipher.h"
#include "common/secrets/secure_values.h"
#include "controller/config_repo/config_assembly.h"
#include "controller/materials/git_mirror.h"
#include "controller/scheduling/scheduler.h"
#include "controller/store/tx.h"
#include "spdlog/spdlog.h"

namespace gantry {
namespace {

std::string UrlForMatching(std::string url) {
  absl::string_view u = url;
  absl::ConsumeSuffix(&u, "/");
  absl::ConsumeSuffix(&u, ".git");
  return std::string(u);
}

std::string SourceOf(const config::ConfigRepo& r) {
  return Sha256Hex(absl::StrCat(r.url, "\n", r.branch, "\n", r.pattern));
}

// A refused commit's errors as shown: this repo's files by their path
// inside the repository (also where a message quotes another location).
std::vector<std::string> RepoErrors(const std::string& id, const config::ParseResult& parsed) {
  std::string prefix = config::ConfigRepoStoredPath(id, "");
  std::vector<std::string> out;
  for (const config::ConfigError& e : parsed.errors) {
    out.push_back(absl::StrReplaceAll(e.ToString(), {{prefix, ""}}));
  }
  if (parsed.more_errors > 0) out.push_back(config::MoreErrorsText(parsed.more_errors));
  return out;
}

std::string ShortSha(const std::string& sha) { return sha.substr(0, 12); }

}  // namespace

ConfigRepoPoller::ConfigRepoPoller(ConfigRepoOptions options, ConfigCache* configs,
                                   std::unique_ptr<store::Db> db, ApplyFn apply)
    : options_(std::move(options)),
      configs_(configs),
      apply_(std::move(apply)),
      db_(std::move(db)),
      rng_(std::random_device{}()) {}

ConfigRepoPoller::~ConfigRepoPoller() { Stop(); }

void ConfigRepoPoller::Start() {
  workers_ = std::make_unique<WorkerPool>(std::max(1, options_.workers));
  loop_ = std::thread([this] { Loop(); });
}

void ConfigRepoPoller::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
  if (workers_) workers_->Shutdown();
  workers_.reset();
}

absl::Duration ConfigRepoPoller::Jittered(absl::Duration d) {
  std::uniform_real_distribution<double> u(-options_.jitter, options_.jitter);
  return d * (1.0 + u(rng_));
}

void ConfigRepoPoller::Refresh() {
  int64_t revision = configs_->current_revision();
  if (revision == config_revision_) return;
  config_revision_ = revision;  // set again below when an entry must be seen again
  auto config = configs_->current();
  std::map<std::string, const config::ConfigRepo*> wanted;
  for (const auto& r : config->config_repos) wanted[r.id] = &r;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto w = wanted.find(it->first);
    bool same = w != wanted.end() && SourceOf(*w->second) == it->second.source;
    if (same) {
      ++it;
    } else if (!it->second.in_flight) {
      it = entries_.erase(it);
    } else {
      // Another repository now: what the fetch in flight finds is of the
      // old one; the next poll starts over.
      Entry& e = it->second;
      e.source = w == wanted.end() ? "" : SourceOf(*w->second);
      e.last_seen.clear();
      e.last_good.clear();
      e.files_hash.clear();
      e.errors.clear();
      e.due = w == wanted.end() ? absl::InfiniteFuture() : absl::InfinitePast();
      config_revision_ = -1;  // looked at again once the fetch ends
      ++it;
    }
  }
  // A repo the main config dropped has no files in force any more.
  in_force_.erase(
      std::remove_if(in_force_.begin(), in_force_.end(),
                     [&](const config::ConfigFile& f) { return wanted.count(f.config_repo) == 0; }),
      in_force_.end());
  for (const auto& [id, repo] : wanted) {
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      Entry e;
      std::string source = SourceOf(*repo);
      auto l = loaded_.find(id);
      if (l != loaded_.end() && l->second.source == source) e = l->second;
      e.source = source;
      it = entries_.emplace(id, std::move(e)).first;  // due at once
    }
    it->second.repo = *repo;
    // A refused commit is tried again under a new main config.
    if (!it->second.errors.empty() && it->second.refused_at_revision != revision) {
      it->second.due = absl::InfinitePast();
    }
  }
}

void ConfigRepoPoller::Loop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    Refresh();
    absl::Time now = absl::Now();
    absl::Time next = now + options_.config_check;
    for (auto& [id, e] : entries_) {
      if (e.in_flight) continue;
      if (e.notified || e.due <= now) {
        e.in_flight = true;
        e.notified = false;
        workers_->Post([this, id = id] { Poll(id); });
      } else {
        next = std::min(next, e.due);
      }
    }
    wake_ = false;
    mu_.AwaitWithDeadline(absl::Condition(
                              +[](ConfigRepoPoller* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
                                return p->wake_ || p->stopping_;
                              },
                              this),
                          next);
  }
}

void ConfigRepoPoller::Poll(std::string id) {
  config::ConfigRepo repo;
  std::string last_seen, files_hash;
  bool retry = false, in_force = false, changed = false;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (stopping_ || it == entries_.end()) return;
    Entry& e = it->second;
    repo = e.repo;
    last_seen = e.last_seen;
    files_hash = e.errors.empty() ? e.files_hash : "";
    retry = !e.errors.empty() && e.refused_at_revision != configs_->current_revision();
    for (const auto& f : in_force_) in_force |= f.config_repo == id;
  }
  GitMirror mirror(options_.mirror_root, repo.url, options_.git_timeout);
  absl::StatusOr<std::string> head = mirror.Fetch(repo.branch);
  absl::StatusOr<Read> read = absl::UnknownError("");
  bool fresh = head.ok() && (*head != last_seen || retry);
  if (fresh) read = ReadFiles(repo, mirror.path(), *head);
  absl::Status failed = !head.ok()              ? head.status()
                        : (fresh && !read.ok()) ? read.status()
                                                : absl::OkStatus();
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.checked_at_ms = absl::ToUnixMillis(absl::Now());
    // Only a change of the fetch's outcome is written down.
    changed = e.fetch_error != (failed.ok() ? "" : git::RedactText(std::string(failed.message())));
    if (!failed.ok()) {
      e.in_flight = false;
      ++e.failures;
      absl::Duration backoff =
          std::min(options_.interval * std::pow(2.0, std::min(e.failures - 1, 20)),
                   std::max(options_.max_backoff, options_.interval));
      e.due = absl::Now() + Jittered(backoff);
      std::string error = git::RedactText(std::string(failed.message()));
      if (error != e.fetch_error) {
        spdlog::warn("config repo {} ({}): {}; retrying with backoff", id, git::RedactUrl(repo.url),
                     error);
        e.fetch_error = error;
      }
    } else {
      e.failures = 0;
      e.fetch_error.clear();
      e.due = absl::Now() + Jittered(options_.interval);
    }
    if (!failed.ok() || !fresh) {
      e.in_flight = false;
      if (e.notified) wake_ = true;
    }
  }
  if (!failed.ok() || !fresh) {
    if (changed) Persist(id);
    return;
  }
  if (in_force && !files_hash.empty() && read->hash == files_hash) {
    // The commit changed none of the repo's config files.
    Finish(id, *head, read->hash, {}, nullptr);
    return;
  }
  Apply(id, *head, std::move(*read));
}

absl::StatusOr<ConfigRepoPoller::Read> ConfigRepoPoller::ReadFiles(
    const config::ConfigRepo& repo, const std::string& mirror, const std::string& commit) const {
  git::GitOptions o;
  o.dir = mirror;
  o.timeout = options_.git_timeout;
  // "<mode> <type> <object> <size>\t<path>", NUL-terminated: sizes first,
  // so nothing larger than the config limit is read.
  auto listing = git::RunGit({"ls-tree", "-r", "-l", "-z", "--full-tree", commit}, o);
  if (!listing.ok()) return listing.status();
  struct Blob {
    std::string object;
    std::string path;
  };
  std::vector<Blob> blobs;
  size_t total = 0;
  const size_t limit = config::Limits().max_total_bytes;
  for (absl::string_view entry : absl::StrSplit(*listing, '\0', absl::SkipEmpty())) {
    size_t tab = entry.find('\t');
    if (tab == absl::string_view::npos) continue;
    std::vector<absl::string_view> meta =
        absl::StrSplit(entry.substr(0, tab), ' ', absl::SkipEmpty());
    absl::string_view path = entry.substr(tab + 1);
    if (meta.size() != 4 || meta[1] != "blob") continue;
    if (!config::PathMatchesPattern(repo.pattern, path)) continue;
    size_t size = 0;
    if (!absl::SimpleAtoi(meta[3], &size)) continue;
    total += size;
    if (total > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the files matching '", repo.pattern, "' at ", ShortSha(commit),
                       " are larger than the config limit of ", limit, " bytes"));
    }
    blobs.push_back({std::string(meta[2]), std::string(path)});
    if (static_cast<int>(blobs.size()) > options_.max_files) {
      return absl::ResourceExhaustedError(
          absl::StrCat("more than ", options_.max_files, " files match '", repo.pattern, "'"));
    }
  }
  Read out;
  std::string all;
  for (const Blob& b : blobs) {
    auto content = git::RunGit({"cat-file", "blob", b.object}, o);
    if (!content.ok()) return content.status();
    absl::StrAppend(&all, "# file: ", b.path, "\n", *content, "\n");
    out.files.push_back({b.path, std::move(*content)});
  }
  out.hash = Sha256Hex(all);
  return out;
}

void ConfigRepoPoller::Apply(const std::string& id, const std::string& commit, Read read) {
  // Checked here first, against the revision in force, so a broken commit
  // is refused without a trip to the strand, with errors in the plain text.
  std::vector<config::ConfigFile> current;
  absl::Status st;
  {
    absl::MutexLock l(&db_mu_);
    st = db_->Run("CurrentConfigFiles", [&](store::Tx& tx) {
      current.clear();
      int64_t revision = tx.CurrentConfigRevision();
      if (revision == 0) return absl::OkStatus();
      if (auto rec = tx.GetConfigRevision(revision)) {
        for (const auto& f : rec->files) current.push_back({f.path, f.content});
      }
      return absl::OkStatus();
    });
  }
  if (!st.ok()) {
    spdlog::warn("config repo {}: cannot read the config in force: {}", id,
                 std::string(st.message()));
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (it != entries_.end()) it->second.in_flight = false;
    return;
  }
  config::MarkConfigRepoFiles(current);
  config_repo::Assembled first = config_repo::AssembleRepoCommit(id, read.files, current);
  current.clear();
  if (!first.parsed.ok()) {
    Finish(id, commit, read.hash, RepoErrors(id, first.parsed), nullptr);
    return;
  }
  first = config_repo::Assembled();
  // Secure values as `config apply` stores them: ciphertext only.
  if (const secrets::Cipher* cipher = secrets::ProcessCipher()) {
    for (config::ConfigFile& f : read.files) {
      auto encrypted = secrets::EncryptSecureValues(f.path, f.content, *cipher);
      if (!encrypted.ok()) {
        Finish(id, commit, read.hash, {std::string(encrypted.status().message())}, nullptr);
        return;
      }
      if (encrypted->encrypted > 0) f.content = std::move(encrypted->content);
    }
  }
  auto errors = std::make_shared<std::vector<std::string>>();
  auto stored = std::make_shared<std::vector<config::ConfigFile>>();
  auto make = [id, commit, files = std::move(read.files), errors,
               stored](store::Db& db) -> absl::StatusOr<AppliedConfig> {
    return ApplyRevision(
        db, absl::StrCat("config-repo:", id),
        [&](const std::vector<config::ConfigFile>& current) -> absl::StatusOr<NewRevision> {
          config_repo::Assembled a = config_repo::AssembleRepoCommit(id, files, current);
          if (!a.parsed.ok()) {
            *errors = RepoErrors(id, a.parsed);
            return absl::InvalidArgumentError(a.parsed.ErrorText());
          }
          stored->clear();
          for (const auto& f : a.files) {
            if (!f.config_repo.empty()) stored->push_back(f);
          }
          NewRevision out;
          out.files = std::move(a.files);
          out.config = std::move(a.parsed.config);
          out.config_repo = id;
          out.commit = commit;
          return out;
        });
  };
  apply_(std::move(make), absl::StrCat("config-repo:", id),
         [this, id, commit, hash = read.hash, errors, stored](absl::Status st) {
           if (st.ok()) {
             Finish(id, commit, hash, {}, stored);
             return;
           }
           if (!errors->empty()) {
             Finish(id, commit, hash, *errors, nullptr);
             return;
           }
           // Not the commit's fault (the database): the next poll tries again.
           spdlog::warn("config repo {}: cannot apply {}: {}", id, ShortSha(commit),
                        std::string(st.message()));
           absl::MutexLock l(&mu_);
           auto it = entries_.find(id);
           if (it == entries_.end()) return;
           it->second.in_flight = false;
           if (it->second.notified) wake_ = true;
         });
}

void ConfigRepoPoller::Finish(const std::string& id, const std::string& commit,
                              const std::string& files_hash, std::vector<std::string> errors,
                              std::shared_ptr<std::vector<config::ConfigFile>> stored) {
  {
    absl::MutexLock l(&mu_);
    ++applied_;
    if (stored) {
      in_force_.erase(
          std::remove_if(in_force_.begin(), in_force_.end(),
                         [&](const config::ConfigFile& f) { return f.config_repo == id; }),
          in_force_.end());
      in_force_.insert(in_force_.end(), stored->begin(), stored->end());
    }
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.in_flight = false;
    if (e.notified) wake_ = true;
    e.last_seen = commit;
    if (errors.empty()) {
      spdlog::info("config repo {}: commit {} in force", id, ShortSha(commit));
      e.last_good = commit;
      e.files_hash = files_hash;
      e.errors.clear();
      e.refused_at_revision = -1;
    } else {
      spdlog::warn("config repo {}: commit {} refused ({} error{}); the first: {}", id,
                   ShortSha(commit), errors.size(), errors.size() == 1 ? "" : "s", errors.front());
      e.errors = std::move(errors);
      e.refused_at_revision = configs_->current_revision();
    }
  }
  // Written from a worker: Finish may run on the scheduler strand.
  absl::MutexLock l(&mu_);
  if (!stopping_ && workers_) workers_->Post([this, id] { Persist(id); });
}

int ConfigRepoPoller::Notify(const std::string& url) {
  absl::MutexLock l(&mu_);
  Refresh();
  int n = 0;
  std::string want = UrlForMatching(url);
  for (auto& [id, e] : entries_) {
    if (UrlForMatching(e.repo.url) != want) continue;
    e.notified = true;
    ++n;
  }
  if (n > 0) wake_ = true;
  return n;
}

std::vector<config::ConfigFile> ConfigRepoPoller::InForceFiles() const {
  absl::MutexLock l(&mu_);
  return in_force_;
}

int64_t ConfigRepoPoller::applied() const {
  absl::MutexLock l(&mu_);
  return applied_;
}

v1::ConfigRepoStatusResponse ConfigRepoPoller::Status() const {
  auto config = configs_->current();
  v1::ConfigRepoStatusResponse out;
  absl::MutexLock l(&mu_);
  for (const auto& r : config->config_repos) {
    v1::ConfigRepoState* s = out.add_repos();
    s->set_id(r.id);
    s->set_url(git::RedactUrl(r.url));
    s->set_branch(r.branch);
    s->set_pattern(r.pattern);
    for (const auto& p : config->pipelines) {
      if (p.config_repo == r.id) s->add_pipelines(p.name);
    }
    auto it = entries_.find(r.id);
    if (it == entries_.end() || it->second.source != SourceOf(r)) continue;  // not fetched yet
    const Entry& e = it->second;
    s->set_last_seen_commit(e.last_seen);
    s->set_last_good_commit(e.last_good);
    for (const auto& err : e.errors) s->add_errors(err);
    s->set_fetch_error(e.fetch_error);
    if (e.checked_at_ms > 0) {
      s->mutable_checked_at()->set_seconds(e.checked_at_ms / 1000);
      s->mutable_checked_at()->set_nanos(static_cast<int32_t>(e.checked_at_ms % 1000) * 1000000);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ConfigRepoPoller>> MakeConfigRepoPoller(
    const std::string& data_dir, const std::string& database_url, absl::Duration interval,
    absl::Duration git_timeout, ConfigCache* configs, Scheduler* scheduler) {
  auto db = store::Db::Connect(database_url);
  if (!db.ok()) return db.status();
  ConfigRepoOptions options;
  options.mirror_root = data_dir + "/config-repos";
  options.interval = interval;
  options.git_timeout = git_timeout;
  auto poller = std::make_unique<ConfigRepoPoller>(
      options, configs, std::move(*db),
      [scheduler](std::function<absl::StatusOr<AppliedConfig>(store::Db&)> make, std::string author,
                  std::function<void(absl::Status)> done) {
        scheduler->ApplyConfigWith(
            std::move(make), std::move(author),
            [done = std::move(done)](auto result) { done(result.status()); });
      });
  if (absl::Status st = poller->Load(); !st.ok()) return st;
  return poller;
}

}  // namespace gantry
