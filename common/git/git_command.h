// The git command line, run as a child process with a timeout: the one way
// the controller (mirrors) and the agent (checkouts) talk to repositories.
//
// Every call gets an environment that never prompts (GIT_TERMINAL_PROMPT=0,
// no askpass), speaks English (LC_ALL=C) and ignores the user's global and
// system config only where that matters for reproducibility. Errors carry
// git's own stderr, with any credentials in URLs replaced by "***", cut to
// a bounded length.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::git {

struct GitOptions {
  // `git -C dir`; "" = the caller's directory.
  std::string dir;
  absl::Duration timeout = absl::Seconds(120);
  // Extra environment (e.g. GIT_SSH_COMMAND from the agent's own set-up).
  std::vector<std::pair<std::string, std::string>> env;
  // The git binary ("" = `git` on PATH).
  std::string git_binary;
  // HTTP(S) credentials of a material (docs/materials.md, "Credentials"):
  // when either is set, git gets them from a credential helper given on the
  // command line that prints $GANTRY_GIT_USERNAME / $GANTRY_GIT_PASSWORD,
  // set in git's environment only. So they are never in the URL, in argv
  // (which other users of the machine can read), in a file or in a message;
  // helpers of the user's own git config are not asked for that call.
  std::string username;
  std::string password;
};

// Runs `git <args>`; returns its stdout when it exits 0. Otherwise an error
// naming the git subcommand and quoting git's stderr (DEADLINE_EXCEEDED when
// it timed out, UNAVAILABLE when git itself could not be started).
absl::StatusOr<std::string> RunGit(const std::vector<std::string>& args,
                                   const GitOptions& options = {});

// `url` with any user info ("user:password@") replaced by "***@", for logs,
// messages and anything stored. Other text is returned unchanged.
std::string RedactUrl(const std::string& url);

// Replaces every occurrence of a URL's credentials in free text (git's own
// messages sometimes repeat the URL).
std::string RedactText(const std::string& text);

// A directory name for a repository URL: the first 24 hex digits of its
// SHA-256, so credentials and odd characters never reach the file system.
std::string UrlKey(const std::string& url);

// One commit as shown in a build cause.
struct CommitInfo {
  std::string sha;
  std::string author;     // "Name <email>"
  std::string message;    // the subject line
  int64_t time_unix = 0;  // committer time, seconds
};

// `git log` arguments and the parser of their output, kept together so the
// format and the parser cannot drift apart.
std::vector<std::string> LogFormatArgs();
std::vector<CommitInfo> ParseLog(const std::string& out);

// True for a full 40-digit lower-case hex object name.
bool IsFullSha(const std::string& s);

}  // namespace gantry::git
