#include "common/git/git_command.h"

#include <stdlib.h>

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/process/process.h"

namespace gantry::git {
namespace {

// git's messages are short; a remote that floods stderr must not fill a
// console line or a log with megabytes.
constexpr size_t kMaxMessage = 2000;

std::string Trimmed(std::string text) {
  text = RedactText(std::string(absl::StripAsciiWhitespace(text)));
  if (text.size() > kMaxMessage) text = absl::StrCat(text.substr(0, kMaxMessage), " [...]");
  return text;
}

}  // namespace

absl::StatusOr<std::string> RunGit(const std::vector<std::string>& args,
                                   const GitOptions& options) {
  std::vector<std::string> argv{options.git_binary.empty() ? "git" : options.git_binary};
  if (!options.dir.empty()) {
    argv.push_back("-C");
    argv.push_back(options.dir);
  }
  const bool credentials = !options.username.empty() || !options.password.empty();
  if (credentials) {
    // An empty helper first clears the list from the user's config; ours
    // answers `get` only, from the environment (a helper string starting
    // with "!" is run by the shell with the action as $1).
    argv.insert(argv.end(), {"-c", "credential.helper=", "-c",
                             "credential.helper=!f() { test \"$1\" = get || exit 0; "
                             "printf 'username=%s\\npassword=%s\\n' \"$GANTRY_GIT_USERNAME\" "
                             "\"$GANTRY_GIT_PASSWORD\"; }; f"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions run;
  run.timeout = options.timeout;
  run.env = {{"GIT_TERMINAL_PROMPT", "0"},
             {"GIT_ASKPASS", "true"},
             {"SSH_ASKPASS", "true"},
             {"LC_ALL", "C"}};
  // An ssh remote must not wait on a question; a GIT_SSH_COMMAND of the
  // host's own (keys, options) is kept.
  if (::getenv("GIT_SSH_COMMAND") == nullptr && ::getenv("GIT_SSH") == nullptr) {
    run.env.push_back({"GIT_SSH_COMMAND", "ssh -o BatchMode=yes"});
  }
  for (const auto& e : options.env) run.env.push_back(e);
  if (credentials) {
    run.env.push_back({"GANTRY_GIT_USERNAME", options.username});
    run.env.push_back({"GANTRY_GIT_PASSWORD", options.password});
  }
  const std::string what = absl::StrCat("git ", args.empty() ? "" : args.front());
  auto result = RunCommand(argv, run);
  if (!result.ok()) {
    return absl::UnavailableError(
        absl::StrCat(what, ": cannot run git: ", Trimmed(std::string(result.status().message()))));
  }
  if (result->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, " timed out after ", absl::FormatDuration(options.timeout)));
  }
  if (!result->success()) {
    std::string err = Trimmed(result->err);
    // git never repeats a password it got from a helper, but be sure.
    if (options.password.size() >= 4) {
      err = absl::StrReplaceAll(err, {{options.password, "***"}});
    }
    if (err.empty()) err = result->Describe();
    return absl::UnknownError(absl::StrCat(what, " failed: ", err));
  }
  return std::move(result->out);
}

std::string RedactUrl(const std::string& url) {
  // scheme://user[:password]@host... ; scp-like user@host:path carries no
  // secret (ssh keys live elsewhere) and is left alone.
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < start) return url;
  return absl::StrCat(url.substr(0, start), "***", url.substr(at));
}

std::string RedactText(const std::string& text) {
  static const std::regex kUserInfo(R"(([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'"]+@)");
  return std::regex_replace(text, kUserInfo, "$1***@");
}

std::string UrlKey(const std::string& url) { return Sha256Hex(url).substr(0, 24); }

std::vector<std::string> LogFormatArgs() {
  // Unit separator between fields, record separator between commits: a
  // subject can hold any printable character.
  return {"--format=%H%x1f%an <%ae>%x1f%ct%x1f%s%x1e"};
}

std::vector<CommitInfo> ParseLog(const std::string& out) {
  std::vector<CommitInfo> commits;
  for (absl::string_view record : absl::StrSplit(out, '\x1e', absl::SkipWhitespace())) {
    std::vector<std::string> f = absl::StrSplit(absl::StripLeadingAsciiWhitespace(record), '\x1f');
    if (f.size() < 4) continue;
    CommitInfo c;
    c.sha = f[0];
    c.author = f[1];
    if (!absl::SimpleAtoi(f[2], &c.time_unix)) c.time_unix = 0;
    c.message = f[3];
    commits.push_back(std::move(c));
  }
  return commits;
}

bool IsFullSha(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace gantry::git
