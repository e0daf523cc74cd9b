#include "agent/task_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry::agent {
namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaskProcess>> TaskProcess::Start(
    const ProcessSpec& spec) {
  std::vector<std::string> argv = spec.argv;
  if (argv.empty()) argv.push_back(spec.executable);
  SpawnOptions options;
  options.executable = spec.executable;
  options.working_dir = spec.cwd;
  options.env = spec.env;
  options.inherit_env = false;
  options.new_process_group = true;
  options.capture_output = true;
  options.shell_fallback = true;
  StartFailure failure;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn(argv, options, &failure);
  if (!child.ok()) {
    // Worded for the job's console, which names the task's own terms.
    switch (failure.step) {
      case StartFailure::Step::kChdir:
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot enter working directory ", spec.cwd, ": ", std::strerror(failure.error)));
      case StartFailure::Step::kExec:
        return absl::FailedPreconditionError(
            absl::StrCat("cannot execute ", spec.executable, ": ", std::strerror(failure.error)));
      default:
        return child.status();
    }
  }
  return std::unique_ptr<TaskProcess>(new TaskProcess(std::move(*child)));
}

TaskProcess::~TaskProcess() {
  if (!reaped_) {
    SignalGroup(SIGKILL);
    Reap();
  }
}

void TaskProcess::SignalGroup(int sig) { child_->Signal(sig).IgnoreError(); }

ExitStatus TaskProcess::Reap() {
  absl::StatusOr<ExitStatus> status = child_->Wait(absl::InfiniteDuration());
  reaped_ = true;
  return status.ok() ? *status : ExitStatus{};
}

void BecomeChildSubreaper() {
#ifdef PR_SET_CHILD_SUBREAPER
  static std::once_flag once;
  std::call_once(once, [] { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); });
#endif
}

void ReapExitedChildren() {
  int status;
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
}

bool ProcessGroupExists(pid_t pgid) {
  return ::kill(-pgid, 0) == 0 || errno == EPERM;
}

absl::StatusOr<std::string> FindExecutable(const std::string& command,
                                           const std::string& path_env,
                                           const std::string& cwd) {
  if (command.empty()) return absl::InvalidArgumentError("empty command");
  if (command.find('/') != std::string::npos) {
    return command[0] == '/' ? command : absl::StrCat(cwd, "/", command);
  }
  std::string path = path_env.empty() ? "/usr/bin:/bin" : path_env;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate = dir.empty() ? absl::StrCat(cwd, "/", command)
                                        : absl::StrCat(dir, "/", command);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("command not found: ", command));
}

std::string CommandLine(const std::vector<std::string>& argv) { return CommandLineString(argv); }

int ExitCodeOf(const ExitStatus& status) {
  if (status.term_signal != 0) return 128 + status.term_signal;
  return status.exit_code;
}

std::string DescribeExit(const ExitStatus& status) {
  if (status.term_signal != 0) {
    return absl::StrCat("killed by signal ", status.term_signal, " (",
                        ::strsignal(status.term_signal), ")");
  }
  if (status.exit_code >= 0) return absl::StrCat("exited ", status.exit_code);
  return "ended with an unknown status";
}

}  // namespace gantry::agent
