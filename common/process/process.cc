// ExitStatus, PATH lookup, quoting and ChildProcess. RunCommand is
// run_command.cc; fork and exec, start_child.cc.
#include "common/process/process.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/process/fds.h"
#include "common/process/start_child.h"
#include "common/status_macros.h"

namespace gantry {
namespace {

using process_internal::DecodeWaitStatus;
using process_internal::ErrnoError;
using process_internal::MakePipe;
using process_internal::OpenFile;
using process_internal::PidfdOpen;
using process_internal::PollMillis;
using process_internal::SetNonBlocking;
using process_internal::StartChild;
using process_internal::UniqueFd;

std::string SignalName(int sig) {
  const char* descr = ::sigdescr_np(sig);
  return absl::StrCat(sig, " (", descr ? descr : "unknown", ")");
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (term_signal != 0) return absl::StrCat("killed by signal ", SignalName(term_signal));
  return absl::StrCat("exited with status ", exit_code);
}

std::string RunResult::Describe() const {
  if (timed_out) return "timed out and was killed";
  ExitStatus s{exit_code, term_signal};
  return s.ToString();
}

absl::StatusOr<std::string> FindOnPath(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = path_env;
  if (path.empty()) {
    const char* p = ::getenv("PATH");
    path = p ? p : "/usr/local/bin:/usr/bin:/bin";
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = dir.empty() ? name : absl::StrCat(std::string(dir), "/", name);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("cannot run ", name, ": not found on PATH (", path, ")"));
}

std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("_@%+=:,./-", c) != nullptr;
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string CommandLineString(const std::vector<std::string>& argv) {
  return absl::StrJoin(argv, " ",
                       [](std::string* out, const std::string& a) { out->append(ShellQuote(a)); });
}

// ---------------------------------------------------------------------------
// ChildProcess

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const SpawnOptions& options, StartFailure* failure) {
  if (failure != nullptr) *failure = {};
  ASSIGN_OR_RETURN(UniqueFd in, OpenFile("/dev/null", O_RDONLY));
  UniqueFd out, out_read;
  if (options.capture_output) {
    RETURN_IF_ERROR(MakePipe(out_read, out));
  } else if (options.log_path.empty()) {
    ASSIGN_OR_RETURN(out, OpenFile("/dev/null", O_WRONLY));
  } else {
    ASSIGN_OR_RETURN(
        out, OpenFile(options.log_path,
                      O_WRONLY | O_CREAT | (options.truncate_log ? O_TRUNC : O_APPEND), 0644));
  }
  ASSIGN_OR_RETURN(pid_t pid, StartChild(argv, options, in.get(), out.get(), out.get(), failure));
  // Our copy of the write end must go, or reading would never see EOF.
  out.reset();
  if (out_read.valid()) SetNonBlocking(out_read.get());
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, PidfdOpen(pid), out_read.release(), options.new_process_group, argv));
}

ChildProcess::ChildProcess(pid_t pid, int pidfd, int output_fd, bool own_group,
                           std::vector<std::string> argv)
    : pid_(pid),
      pidfd_(pidfd),
      output_fd_(output_fd),
      own_group_(own_group),
      argv_(std::move(argv)) {}

ChildProcess::~ChildProcess() {
  if (!TryReap()) {
    ::kill(own_group_ ? -pid_ : pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  CloseOutput();
}

void ChildProcess::CloseOutput() {
  if (output_fd_ >= 0) ::close(output_fd_);
  output_fd_ = -1;
}

bool ChildProcess::HasExited() {
  if (exited_) return true;
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  int r;
  while ((r = ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT)) < 0 && errno == EINTR) {
  }
  // ECHILD: someone else reaped it (a wait on any child); it is gone too.
  if ((r == 0 && info.si_pid == pid_) || (r < 0 && errno == ECHILD)) {
    exited_ = true;
  }
  return exited_;
}

absl::Status ChildProcess::Signal(int sig) {
  if (reaped_) return absl::OkStatus();
  if (::kill(own_group_ ? -pid_ : pid_, sig) != 0 && errno != ESRCH) {
    return ErrnoError(absl::StrCat("kill(", pid_, ", ", sig, ")"), errno);
  }
  return absl::OkStatus();
}

absl::Status ChildProcess::SignalProcess(int sig) {
  if (reaped_) return absl::OkStatus();
  if (::kill(pid_, sig) != 0 && errno != ESRCH) {
    return ErrnoError(absl::StrCat("kill(", pid_, ", ", sig, ")"), errno);
  }
  return absl::OkStatus();
}

bool ChildProcess::TryReap() {
  if (reaped_) return true;
  int status;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == 0) return false;
  reaped_ = true;
  exited_ = true;
  if (r == pid_) status_ = DecodeWaitStatus(status);  // else ECHILD: unknown
  return true;
}

absl::StatusOr<ExitStatus> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!TryReap()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " (", argv_[0], ") still running"));
    }
    if (pidfd_ >= 0) {
      struct pollfd p = {pidfd_, POLLIN, 0};
      ::poll(&p, 1, PollMillis(std::min(left, absl::Seconds(1))));
    } else {
      absl::SleepFor(std::min(left, absl::Milliseconds(10)));
    }
  }
  return status_;
}

ExitStatus ChildProcess::Terminate(int sig, absl::Duration grace) {
  if (Signal(sig).ok()) {
    absl::StatusOr<ExitStatus> s = Wait(grace);
    if (s.ok()) return *s;
  }
  Signal(SIGKILL).IgnoreError();
  SignalProcess(SIGKILL).IgnoreError();
  absl::StatusOr<ExitStatus> s = Wait(absl::InfiniteDuration());
  return s.ok() ? *s : ExitStatus{};
}

bool ChildProcess::IsRunning() { return !TryReap(); }

}  // namespace gantry
