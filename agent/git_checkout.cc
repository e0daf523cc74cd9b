#include "agent/git_checkout.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/paths.h"
#include "common/files.h"
#include "common/git/git_command.h"
#include "common/status_macros.h"

namespace gantry::agent {
namespace {

namespace fs = std::filesystem;

git::GitOptions In(const std::string& dir, const CheckoutOptions& options) {
  git::GitOptions o;
  o.dir = dir;
  o.timeout = options.timeout;
  return o;
}

absl::Status EnsureCache(const std::string& cache, const CheckoutOptions& options) {
  std::error_code ec;
  if (fs::exists(cache + "/HEAD", ec)) return absl::OkStatus();
  // Made under another name and renamed: a crash half-way leaves nothing
  // that looks like a cache.
  std::string tmp = absl::StrCat(cache, ".init.", ::getpid());
  fs::remove_all(tmp, ec);
  RETURN_IF_ERROR(MakeDirs(fs::path(cache).parent_path().string()));
  RETURN_IF_ERROR(git::RunGit({"init", "-q", "--bare", tmp}, In("", options)).status());
  fs::rename(tmp, cache, ec);
  if (ec && !fs::exists(cache + "/HEAD")) {
    return absl::InternalError(absl::StrCat("cannot create ", cache, ": ", ec.message()));
  }
  fs::remove_all(tmp, ec);  // another job made it first
  return absl::OkStatus();
}

bool HasCommit(const std::string& cache, const std::string& rev, const CheckoutOptions& options) {
  return git::RunGit({"cat-file", "-e", absl::StrCat(rev, "^{commit}")}, In(cache, options)).ok();
}

// A call that talks to the remote: with the material's credentials, if it
// has any (through the environment, see git::GitOptions).
git::GitOptions Remote(const std::string& dir, const CheckoutOptions& options,
                       const gantry::v1::GitCheckout& c) {
  git::GitOptions o = In(dir, options);
  o.username = c.username();
  o.password = c.password();
  return o;
}

// The commit to check out, fetched into the cache if it is not there yet.
absl::StatusOr<std::string> FetchRevision(const std::string& cache,
                                          const gantry::v1::GitCheckout& c,
                                          const CheckoutOptions& options,
                                          const std::function<void(const std::string&)>& say) {
  std::vector<std::string> fetch{"fetch", "--quiet", "--no-tags", "--no-write-fetch-head"};
  if (c.shallow()) fetch.push_back("--depth=1");
  fetch.push_back(c.url());
  std::string branch_ref = absl::StrCat("+refs/heads/", c.branch(), ":refs/heads/", c.branch());
  if (c.revision().empty()) {
    // The controller had not fetched the branch yet: its tip now.
    say(absl::StrCat("fetching ", git::RedactUrl(c.url()), " ", c.branch()));
    fetch.push_back(branch_ref);
    RETURN_IF_ERROR(git::RunGit(fetch, Remote(cache, options, c)).status());
    ASSIGN_OR_RETURN(
        std::string out,
        git::RunGit({"rev-parse", absl::StrCat("refs/heads/", c.branch())}, In(cache, options)));
    return std::string(absl::StripAsciiWhitespace(out));
  }
  if (HasCommit(cache, c.revision(), options)) return c.revision();
  say(absl::StrCat("fetching ", c.revision(), " from ", git::RedactUrl(c.url()),
                   c.shallow() ? " (shallow)" : ""));
  std::vector<std::string> by_sha = fetch;
  by_sha.push_back(c.revision());
  absl::Status st = git::RunGit(by_sha, Remote(cache, options, c)).status();
  if (!st.ok()) {
    // A server that refuses to serve a commit by name: fetch the branch,
    // whole, and look for it there.
    std::vector<std::string> branch = {"fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                                       c.url(), branch_ref};
    absl::Status again = git::RunGit(branch, Remote(cache, options, c)).status();
    if (!again.ok()) return st;
  }
  if (!HasCommit(cache, c.revision(), options)) {
    return absl::NotFoundError(absl::StrCat("commit ", c.revision(), " is not in ",
                                            git::RedactUrl(c.url()), " (branch ", c.branch(), ")"));
  }
  return c.revision();
}

absl::Status CheckoutOne(const CheckoutOptions& options, const std::string& job_dir,
                         const gantry::v1::GitCheckout& c,
                         const std::function<void(const std::string&)>& say) {
  std::string cache = absl::StrCat(options.work_dir, "/git-cache/", git::UrlKey(c.url()), ".git");
  RETURN_IF_ERROR(EnsureCache(cache, options));
  ASSIGN_OR_RETURN(std::string rev, FetchRevision(cache, c, options, say));
  ASSIGN_OR_RETURN(std::string dest, JoinInside(job_dir, c.destination()));
  RETURN_IF_ERROR(MakeDirs(dest));
  std::error_code ec;
  if (!fs::exists(dest + "/.git", ec)) {
    RETURN_IF_ERROR(git::RunGit({"init", "-q", dest}, In("", options)).status());
  }
  // Objects come from the cache: no copy, and checking out is local.
  RETURN_IF_ERROR(WriteFileAtomic(dest + "/.git/objects/info/alternates",
                                  absl::StrCat(cache, "/objects\n"), 0644));
  if (fs::exists(cache + "/shallow", ec)) {
    fs::copy_file(cache + "/shallow", dest + "/.git/shallow", fs::copy_options::overwrite_existing,
                  ec);
  } else {
    fs::remove(dest + "/.git/shallow", ec);
  }
  RETURN_IF_ERROR(
      git::RunGit({"checkout", "--quiet", "--force", "--detach", rev}, In(dest, options)).status());
  // As GoCD: files the previous build left that git does not track go.
  RETURN_IF_ERROR(git::RunGit({"clean", "-dffq"}, In(dest, options)).status());
  say(absl::StrCat("checked out ", c.material(), " ", rev, " (", c.branch(), ") into ",
                   c.destination().empty() ? "the job directory" : c.destination()));
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckoutMaterials(const CheckoutOptions& options, const std::string& job_dir,
                               const gantry::v1::Assign& assign,
                               const std::function<void(const std::string&)>& say) {
  for (const auto& c : assign.git_checkouts()) {
    absl::Status st = CheckoutOne(options, job_dir, c, say);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("material ", c.material(), ": ",
                                                  git::RedactText(std::string(st.message()))));
    }
  }
  return absl::OkStatus();
}

absl::Status CleanWorkspace(const std::string& job_dir) {
  std::error_code ec;
  if (!fs::exists(job_dir, ec)) return absl::OkStatus();
  for (const auto& entry : fs::directory_iterator(job_dir, ec)) {
    fs::remove_all(entry.path(), ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot clean ", entry.path().string(), ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace gantry::agent
