#include "controller/materials/git_mirror.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace gantry {
namespace {

std::string FirstLine(const std::string& out) {
  return std::string(absl::StripAsciiWhitespace(out.substr(0, out.find('\n'))));
}

}  // namespace

GitMirror::GitMirror(std::string root, std::string url, absl::Duration timeout)
    : url_(std::move(url)),
      path_(absl::StrCat(root, "/", git::UrlKey(url_), ".git")),
      timeout_(timeout) {}

git::GitOptions GitMirror::Options() const {
  git::GitOptions o;
  o.dir = path_;
  o.timeout = timeout_;
  o.username = username_;
  o.password = password_;
  return o;
}

absl::Status GitMirror::Init() {
  std::error_code ec;
  if (std::filesystem::exists(path_ + "/HEAD", ec)) return absl::OkStatus();
  // Made under a temporary name and renamed: a crash half-way leaves no
  // mirror that looks whole.
  std::string tmp = absl::StrCat(path_, ".init");
  std::filesystem::remove_all(tmp, ec);
  RETURN_IF_ERROR(MakeDirs(std::filesystem::path(path_).parent_path().string()));
  git::GitOptions o;
  o.timeout = timeout_;
  RETURN_IF_ERROR(git::RunGit({"init", "-q", "--bare", tmp}, o).status());
  std::filesystem::rename(tmp, path_, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create mirror ", path_, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> GitMirror::Fetch(const std::string& branch) {
  RETURN_IF_ERROR(Init());
  // --no-write-fetch-head: concurrent fetches of two branches of one URL
  // would otherwise race on FETCH_HEAD.
  RETURN_IF_ERROR(git::RunGit({"fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--force",
                               url_, absl::StrCat("+refs/heads/", branch, ":refs/heads/", branch)},
                              Options())
                      .status());
  return LocalHead(branch);
}

absl::StatusOr<std::string> GitMirror::LocalHead(const std::string& branch) const {
  std::error_code ec;
  if (!std::filesystem::exists(path_ + "/HEAD", ec)) {
    return absl::NotFoundError(absl::StrCat("no mirror of ", git::RedactUrl(url_), " yet"));
  }
  // A fetch leaves the branch as a loose ref: read it, rather than start a
  // second git process per poll (forking the controller is most of what
  // polling costs it, docs/performance.md). Packed refs, or anything else,
  // go through git.
  if (branch.find("..") == std::string::npos) {
    auto loose = ReadFile(absl::StrCat(path_, "/refs/heads/", branch));
    if (loose.ok()) {
      std::string sha(absl::StripAsciiWhitespace(*loose));
      if (git::IsFullSha(sha)) return sha;
    }
  }
  auto out = git::RunGit(
      {"rev-parse", "--verify", "--quiet", absl::StrCat("refs/heads/", branch, "^{commit}")},
      Options());
  if (!out.ok()) {
    return absl::NotFoundError(
        absl::StrCat("branch ", branch, " of ", git::RedactUrl(url_), " has not been fetched"));
  }
  return FirstLine(*out);
}

absl::StatusOr<std::string> GitMirror::Resolve(const std::string& rev) const {
  std::error_code ec;
  if (rev.empty() || rev[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat("'", rev, "' is not a revision"));
  }
  if (!std::filesystem::exists(path_ + "/HEAD", ec)) {
    return absl::NotFoundError(absl::StrCat("no mirror of ", git::RedactUrl(url_), " yet"));
  }
  auto out =
      git::RunGit({"rev-parse", "--verify", "--quiet", absl::StrCat(rev, "^{commit}")}, Options());
  if (!out.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no commit '", rev, "' in ", git::RedactUrl(url_), " as last fetched"));
  }
  return FirstLine(*out);
}

absl::StatusOr<std::vector<git::CommitInfo>> GitMirror::CommitsBetween(const std::string& from,
                                                                       const std::string& to,
                                                                       int limit) const {
  std::vector<std::string> args{"log", absl::StrCat("--max-count=", limit)};
  for (auto& a : git::LogFormatArgs()) args.push_back(a);
  args.push_back(to);
  // An unknown `from` (a force-push dropped it, the mirror was wiped) would
  // make git fail: then only `to` is listed.
  if (!from.empty() && from != to && Resolve(from).ok()) {
    args.push_back(absl::StrCat("^", from));
  } else {
    args[1] = "--max-count=1";
  }
  args.push_back("--");
  ASSIGN_OR_RETURN(std::string out, git::RunGit(args, Options()));
  return git::ParseLog(out);
}

absl::StatusOr<std::vector<std::string>> GitMirror::ChangedFiles(const std::string& from,
                                                                 const std::string& to) const {
  if (from.empty() || !Resolve(from).ok()) {
    return absl::NotFoundError(absl::StrCat("no commit '", from, "' to compare with"));
  }
  ASSIGN_OR_RETURN(
      std::string out,
      git::RunGit({"diff", "--name-only", "--no-renames", "-z", from, to, "--"}, Options()));
  std::vector<std::string> files;
  for (absl::string_view f : absl::StrSplit(out, '\0', absl::SkipEmpty())) {
    files.emplace_back(f);
  }
  return files;
}

}  // namespace gantry
