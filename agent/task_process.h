// One task's child process, on common/process's ChildProcess: its own
// process group, stdin from /dev/null, stdout and stderr merged into one
// pipe that the caller reads. ChildProcess prepares everything that
// allocates (argv, envp) before fork, so this is safe in the multi-threaded
// agent. The agent keeps its own lookup rules (FindExecutable) and console
// wording; this file adapts the two.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/process.h"

namespace gantry::agent {

struct ProcessSpec {
  std::string executable;         // path to execve (see FindExecutable)
  std::vector<std::string> argv;  // argv[0] is the command as configured
  // The whole environment: the agent's own is not inherited.
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;
};

class TaskProcess {
 public:
  // Starts the child. An error (FailedPrecondition) means nothing ran: the
  // working directory or the executable was unusable; the message says which
  // and why, e.g. "cannot execute ./build.sh: Permission denied". A file
  // without a #! line is run by /bin/sh (execvp's rule).
  static absl::StatusOr<std::unique_ptr<TaskProcess>> Start(
      const ProcessSpec& spec);

  // Kills what is left of the process group and reaps the child.
  ~TaskProcess();

  TaskProcess(const TaskProcess&) = delete;
  TaskProcess& operator=(const TaskProcess&) = delete;

  pid_t pid() const { return child_->pid(); }
  // The process group; the child leads it, so it equals pid().
  pid_t pgid() const { return child_->pid(); }
  // Non-blocking read end of the output pipe; -1 once CloseOutput() ran.
  int output_fd() const { return child_->output_fd(); }
  void CloseOutput() { child_->CloseOutput(); }
  // Readable when the child has exited; -1 where pidfd_open is unavailable
  // (poll HasExited() on a timer instead).
  int exit_fd() const { return child_->exit_fd(); }

  // True once the child has exited. Does not reap it, so its pid (and with
  // it the process group id) cannot be reused while the group is signalled.
  bool HasExited() { return child_->HasExited(); }
  // Sends `sig` to the whole process group (errors ignored: it may be gone).
  void SignalGroup(int sig);
  // Waits for the child and returns how it ended.
  ExitStatus Reap();

 private:
  explicit TaskProcess(std::unique_ptr<ChildProcess> child) : child_(std::move(child)) {}

  std::unique_ptr<ChildProcess> child_;
  bool reaped_ = false;
};

// Makes this process the reaper of orphaned descendants (Linux
// PR_SET_CHILD_SUBREAPER), so what a task leaves behind stays visible and is
// reaped here even under an init that does not reap (containers). Idempotent.
void BecomeChildSubreaper();

// Reaps every exited child without blocking. Only call when no TaskProcess
// is waiting to be reaped: the agent has no other children.
void ReapExitedChildren();

// True while any process (zombies included) is in process group `pgid`.
bool ProcessGroupExists(pid_t pgid);

// The executable `command` runs as, with execvp's rules applied to the job's
// PATH (not the agent's): a command containing '/' is taken as is (relative
// to `cwd`); otherwise the first executable regular file named `command` in
// the directories of `path_env` ("/usr/bin:/bin" when unset; an empty entry
// is `cwd`). NotFound with "command not found: X" otherwise.
absl::StatusOr<std::string> FindExecutable(const std::string& command,
                                           const std::string& path_env,
                                           const std::string& cwd);

// The command line for console headers, each word shell-quoted if needed:
// sh -c 'echo hi'.
std::string CommandLine(const std::vector<std::string>& argv);

// The exit code a task reports: the exit status, or 128+N when killed by
// signal N (-1 if unknown).
int ExitCodeOf(const ExitStatus& status);
// "exited 0", "killed by signal 15 (Terminated)".
std::string DescribeExit(const ExitStatus& status);

}  // namespace gantry::agent
