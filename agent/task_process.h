// One task's child process: fork + execve in its own process group, stdin
// from /dev/null, stdout and stderr merged into one pipe that the caller
// reads. Everything that allocates (PATH search, argv and envp) happens
// before fork, so this is safe in the multi-threaded agent.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gantry::agent {

struct ProcessSpec {
  std::string executable;         // path to execve (see FindExecutable)
  std::vector<std::string> argv;  // argv[0] is the command as configured
  std::vector<std::string> env;   // "NAME=value"
  std::string cwd;
};

class TaskProcess {
 public:
  // Starts the child. An error (FailedPrecondition) means nothing ran: the
  // working directory or the executable was unusable; the message says which
  // and why, e.g. "cannot execute ./build.sh: Permission denied".
  static absl::StatusOr<std::unique_ptr<TaskProcess>> Start(
      const ProcessSpec& spec);

  // Kills what is left of the process group and reaps the child.
  ~TaskProcess();

  TaskProcess(const TaskProcess&) = delete;
  TaskProcess& operator=(const TaskProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The process group; the child leads it, so it equals pid().
  pid_t pgid() const { return pid_; }
  // Non-blocking read end of the output pipe; -1 once CloseOutput() ran.
  int output_fd() const { return output_fd_; }
  void CloseOutput();
  // Readable when the child has exited; -1 where pidfd_open is unavailable
  // (poll HasExited() on a timer instead).
  int exit_fd() const { return pidfd_; }

  // True once the child has exited. Does not reap it, so its pid (and with
  // it the process group id) cannot be reused while the group is signalled.
  bool HasExited();
  // Sends `sig` to the whole process group (errors ignored: it may be gone).
  void SignalGroup(int sig);
  // Waits for the child and returns its wait status (see waitpid).
  int Reap();

 private:
  TaskProcess(pid_t pid, int output_fd, int pidfd)
      : pid_(pid), output_fd_(output_fd), pidfd_(pidfd) {}

  pid_t pid_;
  int output_fd_;
  int pidfd_;
  bool exited_ = false;
  bool reaped_ = false;
  int wait_status_ = 0;
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

// The exit code a task reports for a waitpid status: the exit status, or
// 128+N when killed by signal N.
int ExitCodeOf(int wait_status);
// "exited 0", "killed by signal 15 (Terminated)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace gantry::agent
