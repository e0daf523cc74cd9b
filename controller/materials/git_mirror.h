// A bare mirror of one repository URL under the controller's data dir:
//
//   DIR/materials/<UrlKey(url)>.git    bare; refs/heads/<branch> as fetched
//
// The URL is passed on every fetch and never written into the mirror's
// config, so credentials in it stay out of the file system. Every call runs
// git with a timeout; none may run on the scheduler strand.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/git/git_command.h"

namespace gantry {

class GitMirror {
 public:
  GitMirror(std::string root, std::string url, absl::Duration timeout);

  const std::string& path() const { return path_; }
  // HTTP(S) credentials for the remote (git::GitOptions): given to git
  // through the environment of the fetch, never stored.
  void set_credentials(std::string username, std::string password) {
    username_ = std::move(username);
    password_ = std::move(password);
  }

  // Fetches `branch` from the remote (creating the mirror first) and returns
  // the branch's head commit.
  absl::StatusOr<std::string> Fetch(const std::string& branch);
  // The head of `branch` as last fetched; NotFound before any fetch.
  absl::StatusOr<std::string> LocalHead(const std::string& branch) const;
  // `rev` (a SHA, an abbreviation, a branch) as a full commit SHA, if the
  // mirror has it.
  absl::StatusOr<std::string> Resolve(const std::string& rev) const;
  // Commits reachable from `to` and not from `from`, newest first, at most
  // `limit`. An empty or unknown `from` gives `to` alone.
  absl::StatusOr<std::vector<git::CommitInfo>> CommitsBetween(const std::string& from,
                                                              const std::string& to,
                                                              int limit) const;
  // Paths (from the repository's root) that differ between `from` and `to`,
  // for material filters. An empty or unknown `from`: NotFound.
  absl::StatusOr<std::vector<std::string>> ChangedFiles(const std::string& from,
                                                        const std::string& to) const;

 private:
  absl::Status Init();
  git::GitOptions Options() const;

  std::string url_;
  std::string path_;
  absl::Duration timeout_;
  std::string username_;
  std::string password_;
};

}  // namespace gantry
