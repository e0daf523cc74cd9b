#include "agent/task_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gantry::agent {
namespace {

// What the child reports through the close-on-exec error pipe when it
// cannot get as far as the new program.
struct ChildError {
  int step;  // kStepChdir or kStepExec
  int err;
};
constexpr int kStepChdir = 1;
constexpr int kStepExec = 2;

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

int OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  return -1;
#endif
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(int devnull, int out_w, int err_w, const char* cwd,
                            const char* path, char* const* argv,
                            char* const* envp, char* const* sh_argv) {
  ::setpgid(0, 0);
  // The agent may block or ignore signals (SIGPIPE, SIGTERM for its signal
  // thread); a build must start from the defaults.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);

  ::dup2(devnull, STDIN_FILENO);
  ::dup2(out_w, STDOUT_FILENO);
  ::dup2(out_w, STDERR_FILENO);
  ChildError error{kStepChdir, 0};
  if (::chdir(cwd) != 0) {
    error.err = errno;
  } else {
    error.step = kStepExec;
    ::execve(path, argv, envp);
    error.err = errno;
    if (error.err == ENOEXEC) {
      // execvp semantics: a file without a #! line is a shell script.
      ::execve("/bin/sh", sh_argv, envp);
      error.err = errno;
    }
  }
  ssize_t ignored = ::write(err_w, &error, sizeof(error));
  (void)ignored;
  ::_exit(127);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaskProcess>> TaskProcess::Start(
    const ProcessSpec& spec) {
  std::vector<std::string> argv = spec.argv;
  if (argv.empty()) argv.push_back(spec.executable);
  std::vector<std::string> env = spec.env;
  std::vector<std::string> sh_args = {"/bin/sh", spec.executable};
  sh_args.insert(sh_args.end(), argv.begin() + 1, argv.end());
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  std::vector<char*> c_sh = CStrings(sh_args);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pipe: ", std::strerror(errno)));
  }
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(out[0]);
    ::close(out[1]);
    return absl::ResourceExhaustedError(
        absl::StrCat("pipe: ", std::strerror(e)));
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  pid_t pid = ::fork();
  if (pid == 0) {
    ExecChild(devnull, out[1], err_pipe[1], spec.cwd.c_str(),
              spec.executable.c_str(), c_argv.data(), c_env.data(),
              c_sh.data());
  }
  int fork_errno = errno;
  ::close(out[1]);
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err_pipe[0]);
    return absl::ResourceExhaustedError(
        absl::StrCat("fork: ", std::strerror(fork_errno)));
  }
  // Also from the parent, so the group exists before we might signal it.
  ::setpgid(pid, pid);

  // EOF (exec succeeded, the pipe closed on exec) or a ChildError.
  ChildError error{0, 0};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(error))) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(out[0]);
    if (error.step == kStepChdir) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot enter working directory ", spec.cwd, ": ",
                       std::strerror(error.err)));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot execute ", spec.executable, ": ", std::strerror(error.err)));
  }

  ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<TaskProcess>(
      new TaskProcess(pid, out[0], OpenPidfd(pid)));
}

TaskProcess::~TaskProcess() {
  if (!reaped_) {
    SignalGroup(SIGKILL);
    Reap();
  }
  CloseOutput();
  CloseFd(pidfd_);
}

void TaskProcess::CloseOutput() { CloseFd(output_fd_); }

bool TaskProcess::HasExited() {
  if (exited_) return true;
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
      info.si_pid == pid_) {
    exited_ = true;
  }
  return exited_;
}

void TaskProcess::SignalGroup(int sig) {
  if (!reaped_) ::kill(-pid_, sig);
}

int TaskProcess::Reap() {
  if (reaped_) return wait_status_;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  reaped_ = true;
  exited_ = true;
  wait_status_ = status;
  return status;
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

std::string CommandLine(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& a : argv) {
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-+=/.,:@%") == std::string::npos;
    if (plain) {
      words.push_back(a);
      continue;
    }
    std::string q = "'";
    for (char c : a) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    q += "'";
    words.push_back(q);
  }
  return absl::StrJoin(words, " ");
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exited ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    return absl::StrCat("killed by signal ", sig, " (", ::strsignal(sig), ")");
  }
  return absl::StrCat("ended with wait status ", wait_status);
}

}  // namespace gantry::agent
