// Subprocesses: run a command to completion and capture its output
// (RunCommand), or keep a long-running child (ChildProcess).
//
// Children are started with fork + execve. Everything that is not
// async-signal-safe (user lookup, PATH search, building the environment)
// happens in the parent before fork, so this is safe to call from a
// multi-threaded process. Children inherit no file descriptors besides
// stdin/stdout/stderr, start with all signals unblocked and at their default
// dispositions, and by default get their own process group, so a signal to
// the group reaches the command and everything it started.
//
// Failure to start (binary missing, not executable, bad working dir, unknown
// user) is an error status naming the command; a command that ran and failed
// is a RunResult / ExitStatus with its exit code or signal.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry {

// How a child ended.
struct ExitStatus {
  int exit_code = -1;   // valid when term_signal == 0
  int term_signal = 0;  // the signal that killed it, or 0

  bool success() const { return term_signal == 0 && exit_code == 0; }
  // "exited with status 3", "killed by signal 9 (Killed)".
  std::string ToString() const;
};

// Settings shared by RunCommand and ChildProcess::Spawn.
struct ProcessOptions {
  // Working directory of the child; "" = the caller's.
  std::string working_dir;
  // Variables set in (or overriding) the child's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Start from the caller's environment (true) or from an empty one.
  bool inherit_env = true;
  // When the caller is root: run the child as this user (initgroups, setgid,
  // setuid) with HOME/USER/LOGNAME set to that user's unless `env` sets them.
  // When the caller is not root, naming the caller's own user is allowed and
  // anything else is a PermissionDenied error.
  std::string run_as_user;
  // Put the child in a new process group (pgid == pid).
  bool new_process_group = true;
  // Linux only: the child gets SIGKILL when the thread that spawned it exits
  // (used by tests so a crashed test binary leaves no processes behind).
  bool kill_on_parent_death = false;
  // The file to execve. "" = argv[0], searched on the child's PATH unless it
  // contains a '/'. argv[0] reaches the child as given either way, so a
  // caller with its own lookup rules can keep the command as configured.
  std::string executable;
  // execvp's rule: a file the kernel will not execute (ENOEXEC: no #! line,
  // not a binary) is run by /bin/sh as a script instead.
  bool shell_fallback = false;
};

// Why a child never got as far as its program: the step that failed in the
// child between fork and exec, and its errno. For callers that word their
// own messages (the agent's task console).
struct StartFailure {
  enum class Step {
    kNone,  // nothing failed in the child (or the failure was the parent's)
    kSetpgid,
    kStdio,
    kSetgroups,
    kSetgid,
    kSetuid,
    kChdir,
    kExec,
  };
  Step step = Step::kNone;
  int error = 0;  // errno of the failed step
};

struct RunOptions : ProcessOptions {
  // Written to the child's stdin, which is then closed. Without it the child
  // reads /dev/null.
  std::string stdin_data;
  // After this long the child's process group is killed with SIGKILL and the
  // result is marked timed_out.
  absl::Duration timeout = absl::InfiniteDuration();
};

struct RunResult {
  int exit_code = -1;   // valid when term_signal == 0
  int term_signal = 0;  // the signal that killed the child, or 0
  bool timed_out = false;
  std::string out;  // everything the child wrote to stdout
  std::string err;  // everything the child wrote to stderr

  // Exited with status 0, in time.
  bool success() const {
    return !timed_out && term_signal == 0 && exit_code == 0;
  }
  // "exited with status 1", "killed by signal 9 (Killed)",
  // "timed out and was killed".
  std::string Describe() const;
};

// Runs argv (argv[0] is searched on PATH unless it contains a '/') and waits
// for it, reading stdout and stderr concurrently. Returns an error only when
// the command could not be started; check RunResult::success() for how it
// ended. If the command leaves a background process holding its stdout or
// stderr open, reading stops shortly after the command itself exits.
absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv,
                                     const RunOptions& options = {});

// The executable `name` would run as: `name` itself if it contains a '/',
// else the first executable regular file of that name in the directories of
// `path_env` ("" = this process's $PATH). NotFound otherwise.
absl::StatusOr<std::string> FindOnPath(const std::string& name,
                                       const std::string& path_env = "");

// Quotes `s` for a POSIX shell (and for error messages).
std::string ShellQuote(const std::string& s);

// argv joined with spaces, each element shell-quoted when needed.
std::string CommandLineString(const std::vector<std::string>& argv);

struct SpawnOptions : ProcessOptions {
  // stdout and stderr are appended to this file (created with mode 0644).
  // "" = both go to /dev/null.
  std::string log_path;
  // Truncate the log file instead of appending.
  bool truncate_log = false;
  // stdout and stderr go, merged in the order written, into one pipe whose
  // read end is output_fd(); log_path is then unused.
  bool capture_output = false;
};

// A long-running child. stdin is /dev/null. Not thread-safe: use one
// ChildProcess from one thread at a time.
class ChildProcess {
 public:
  // `failure`, when given, says which step failed if the child could not
  // start its program (the returned status says it in words).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const SpawnOptions& options = {},
                                                             StartFailure* failure = nullptr);

  // Kills the child's process group (or the child, without its own group)
  // with SIGKILL and reaps it, if it is still running; closes output_fd().
  ~ChildProcess();

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // Sends `sig` to the child's process group (to the child alone when it was
  // spawned without its own group). A child that has already been reaped
  // gets nothing and this returns OK.
  absl::Status Signal(int sig);
  // Sends `sig` to the child only, never to the rest of its group.
  absl::Status SignalProcess(int sig);

  // Waits up to `timeout` for the child to exit and returns how it ended;
  // DeadlineExceeded if it is still running. A zero timeout just checks.
  // Once reaped, keeps returning the same status.
  absl::StatusOr<ExitStatus> Wait(absl::Duration timeout);

  // Sends `sig`, waits up to `grace`, then SIGKILLs the group and waits for
  // the child. Returns how it ended.
  ExitStatus Terminate(int sig = SIGTERM,
                       absl::Duration grace = absl::Seconds(10));

  // True until the child has exited (reaps it when it has).
  bool IsRunning();

  // True once the child has exited, without reaping it: until Wait() or
  // IsRunning() reaps it, its pid (and so its process group's id) cannot be
  // reused, so Signal() cannot reach an unrelated group meanwhile.
  bool HasExited();

  // With capture_output: the non-blocking read end of the output pipe; -1
  // without it or once CloseOutput() ran.
  int output_fd() const { return output_fd_; }
  void CloseOutput();
  // Readable once the child has exited (a pidfd), for poll loops; -1 where
  // pidfd_open is unavailable (poll HasExited() on a timer instead).
  int exit_fd() const { return pidfd_; }

 private:
  ChildProcess(pid_t pid, int pidfd, int output_fd, bool own_group, std::vector<std::string> argv);

  // Non-blocking waitpid; records the status. True once reaped.
  bool TryReap();

  pid_t pid_;
  int pidfd_;  // -1 if pidfd_open is unavailable
  int output_fd_;
  bool own_group_;
  std::vector<std::string> argv_;
  bool exited_ = false;
  bool reaped_ = false;
  ExitStatus status_;
};

}  // namespace gantry
