// For tests: a bare repository in a temporary directory (reached by a
// file:// URL, as a remote would be) and a work tree that commits and pushes
// to it. Header-only; every git call goes through RunGit.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/git/git_command.h"

namespace gantry::git {

class TestRepo {
 public:
  // Creates <root>/<name>.git (bare, default branch `branch`) and a clone.
  TestRepo(const std::string& root, const std::string& name, const std::string& branch = "main")
      : bare_(absl::StrCat(root, "/", name, ".git")),
        work_(absl::StrCat(root, "/", name, ".work")),
        branch_(branch) {
    std::filesystem::create_directories(root);
    Must(RunGit({"init", "-q", "--bare", "-b", branch_, bare_}));
    Must(RunGit({"init", "-q", "-b", branch_, work_}));
  }

  std::string url() const { return absl::StrCat("file://", bare_); }
  const std::string& bare_path() const { return bare_; }

  // Writes `file` with `content`, commits with `message` as `author`, pushes
  // to `branch` (default: the repository's) unless `push` is false (the next
  // pushed commit then brings it along). Returns the new commit's SHA.
  std::string Commit(const std::string& message, const std::string& file = "README",
                     const std::string& content = "", const std::string& branch = "",
                     const std::string& author = "Ada Lovelace <ada@example.com>",
                     bool push = true) {
    std::filesystem::create_directories(std::filesystem::path(work_ + "/" + file).parent_path());
    Must(
        WriteFileAtomic(work_ + "/" + file, content.empty() ? message + "\n" : content, 0644).ok());
    GitOptions o;
    o.dir = work_;
    size_t lt = author.find(" <");
    std::string name = author.substr(0, lt);
    std::string email = author.substr(lt + 2, author.size() - lt - 3);
    o.env = {{"GIT_AUTHOR_NAME", name},
             {"GIT_AUTHOR_EMAIL", email},
             {"GIT_COMMITTER_NAME", name},
             {"GIT_COMMITTER_EMAIL", email}};
    Must(RunGit({"add", "-A"}, o));
    Must(RunGit({"commit", "-q", "-m", message}, o));
    std::string b = branch.empty() ? branch_ : branch;
    if (push) Must(RunGit({"push", "-q", bare_, absl::StrCat("HEAD:refs/heads/", b)}, o));
    auto sha = RunGit({"rev-parse", "HEAD"}, o);
    Must(sha.ok());
    return std::string(absl::StripAsciiWhitespace(*sha));
  }

 private:
  template <typename T>
  static void Must(const T& st) {
    if constexpr (std::is_same_v<T, bool>) {
      if (!st) abort();
    } else {
      if (!st.ok()) {
        fprintf(stderr, "TestRepo: %s\n", std::string(st.status().message()).c_str());
        abort();
      }
    }
  }

  std::string bare_;
  std::string work_;
  std::string branch_;
};

}  // namespace gantry::git
