#include "common/process/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/process/user.h"
#include "common/status_macros.h"

extern char** environ;

namespace gantry {
namespace {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

absl::Status ErrnoError(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

// The child's stdio descriptors are dup2'ed onto 0-2; keeping every other
// descriptor above 2 means no dup2 can clobber one still needed.
absl::Status MoveAboveStdio(UniqueFd& fd) {
  if (fd.get() > 2) return absl::OkStatus();
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return ErrnoError("fcntl(F_DUPFD_CLOEXEC)", errno);
  fd.reset(moved);
  return absl::OkStatus();
}

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  RETURN_IF_ERROR(MoveAboveStdio(read_end));
  return MoveAboveStdio(write_end);
}

absl::StatusOr<UniqueFd> OpenFile(const std::string& path, int flags,
                                  int mode = 0) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  }
  RETURN_IF_ERROR(MoveAboveStdio(fd));
  return fd;
}

void SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  return -1;
#endif
}

// Everything the child needs between fork and exec, prepared in the parent
// so the child only makes async-signal-safe calls.
struct ExecPlan {
  std::string path;
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  // shell_fallback: {"/bin/sh", path, argv[1]...}; empty otherwise.
  std::vector<std::string> sh_argv_storage;
  std::vector<char*> sh_argv;
  bool change_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string working_dir;
  bool new_process_group = true;
  bool kill_on_parent_death = false;
  pid_t parent_pid = 0;
};

absl::StatusOr<ExecPlan> MakePlan(const std::vector<std::string>& argv,
                                  const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("empty command line");
  }
  ExecPlan plan;
  plan.working_dir = options.working_dir;
  plan.new_process_group = options.new_process_group;
  plan.kill_on_parent_death = options.kill_on_parent_death;
  plan.parent_pid = ::getpid();

  std::map<std::string, std::string> env;
  if (options.inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string::npos) continue;
      env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  if (!options.run_as_user.empty()) {
    absl::StatusOr<UserInfo> user = LookupUser(options.run_as_user);
    if (!user.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot run ", argv[0], " as user '",
                       options.run_as_user, "': ", user.status().message()));
    }
    if (RunningAsRoot()) {
      plan.change_user = user->uid != 0 || user->gid != 0;
      plan.uid = user->uid;
      plan.gid = user->gid;
      plan.groups = user->groups;
    } else if (user->uid != ::geteuid()) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot run ", argv[0], " as user '",
                       options.run_as_user, "': only root can switch users"));
    }
    env["HOME"] = user->home;
    env["USER"] = user->name;
    env["LOGNAME"] = user->name;
  }
  for (const auto& [key, value] : options.env) env[key] = value;

  if (!options.executable.empty()) {
    plan.path = options.executable;
  } else {
    auto path_it = env.find("PATH");
    ASSIGN_OR_RETURN(plan.path,
                     FindOnPath(argv[0], path_it != env.end() ? path_it->second
                                                              : "/usr/local/bin:/usr/bin:/bin"));
  }

  plan.argv_storage = argv;
  for (auto& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  if (options.shell_fallback) {
    plan.sh_argv_storage = {"/bin/sh", plan.path};
    plan.sh_argv_storage.insert(plan.sh_argv_storage.end(), argv.begin() + 1, argv.end());
    for (auto& a : plan.sh_argv_storage) plan.sh_argv.push_back(a.data());
    plan.sh_argv.push_back(nullptr);
  }
  for (const auto& [key, value] : env) {
    plan.env_storage.push_back(absl::StrCat(key, "=", value));
  }
  for (auto& e : plan.env_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  return plan;
}

// What failed in the child before exec, sent to the parent over a pipe.
enum ChildStage : int {
  kStageSetpgid = 1,
  kStageStdio,
  kStageSetgroups,
  kStageSetgid,
  kStageSetuid,
  kStageChdir,
  kStageExec,
};

const char* StageName(int stage) {
  switch (stage) {
    case kStageSetpgid:
      return "setpgid";
    case kStageStdio:
      return "redirecting stdio";
    case kStageSetgroups:
      return "setgroups";
    case kStageSetgid:
      return "setgid";
    case kStageSetuid:
      return "setuid";
    case kStageChdir:
      return "changing to the working directory";
    case kStageExec:
      return "exec";
  }
  return "starting";
}

void CloseFrom(unsigned int first, unsigned int last) {
  if (first > last) return;
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (long fd = first; fd < max && fd <= static_cast<long>(last); ++fd) {
    ::close(static_cast<int>(fd));
  }
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void ChildMain(const ExecPlan& plan, int in_fd, int out_fd,
                            int err_fd, int report_fd) {
  auto fail = [&](int stage) {
    int msg[2] = {stage, errno};
    ssize_t ignored = ::write(report_fd, msg, sizeof(msg));
    (void)ignored;
    ::_exit(127);
  };
  if (plan.new_process_group && ::setpgid(0, 0) != 0) fail(kStageSetpgid);

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);

  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    fail(kStageStdio);
  }
  if (plan.change_user) {
    if (::setgroups(plan.groups.size(), plan.groups.data()) != 0) {
      fail(kStageSetgroups);
    }
    if (::setgid(plan.gid) != 0) fail(kStageSetgid);
    if (::setuid(plan.uid) != 0) fail(kStageSetuid);
  }
  // After setuid, which clears the parent-death signal.
  if (plan.kill_on_parent_death) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != plan.parent_pid) ::_exit(137);
  }
  if (!plan.working_dir.empty() && ::chdir(plan.working_dir.c_str()) != 0) {
    fail(kStageChdir);
  }
  CloseFrom(3, static_cast<unsigned>(report_fd) - 1);
  CloseFrom(static_cast<unsigned>(report_fd) + 1, ~0U);
  ::execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
  if (errno == ENOEXEC && !plan.sh_argv.empty()) {
    ::execve("/bin/sh", plan.sh_argv.data(), plan.envp.data());
  }
  fail(kStageExec);
  ::_exit(127);  // not reached
}

StartFailure::Step StepOf(int stage) {
  switch (stage) {
    case kStageSetpgid:
      return StartFailure::Step::kSetpgid;
    case kStageStdio:
      return StartFailure::Step::kStdio;
    case kStageSetgroups:
      return StartFailure::Step::kSetgroups;
    case kStageSetgid:
      return StartFailure::Step::kSetgid;
    case kStageSetuid:
      return StartFailure::Step::kSetuid;
    case kStageChdir:
      return StartFailure::Step::kChdir;
    case kStageExec:
      return StartFailure::Step::kExec;
  }
  return StartFailure::Step::kNone;
}

// Forks and execs; the child's stdio are the given descriptors. Returns once
// exec has succeeded, or an error saying which step failed (also in
// `failure`, if given).
absl::StatusOr<pid_t> StartChild(const std::vector<std::string>& argv,
                                 const ProcessOptions& options, int in_fd, int out_fd, int err_fd,
                                 StartFailure* failure = nullptr) {
  ASSIGN_OR_RETURN(ExecPlan plan, MakePlan(argv, options));
  UniqueFd report_read, report_write;
  RETURN_IF_ERROR(MakePipe(report_read, report_write));

  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError(absl::StrCat("fork for ", argv[0]), errno);
  if (pid == 0) ChildMain(plan, in_fd, out_fd, err_fd, report_write.get());

  // Also from the parent, so the group exists before anyone signals it.
  if (plan.new_process_group) ::setpgid(pid, pid);
  report_write.reset();
  int msg[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof(msg)) {
    ssize_t n = ::read(report_read.get(), reinterpret_cast<char*>(msg) + got,
                       sizeof(msg) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == 0) return pid;  // exec closed the pipe: the command is running

  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (failure != nullptr) *failure = {StepOf(msg[0]), msg[1]};
  std::string what = absl::StrCat("cannot run ", CommandLineString(argv), ": ",
                                  StageName(msg[0]));
  if (msg[0] == kStageChdir) absl::StrAppend(&what, " ", plan.working_dir);
  absl::StrAppend(&what, ": ", strerror(msg[1]));
  if (msg[0] == kStageExec && msg[1] == ENOENT) {
    return absl::NotFoundError(what);
  }
  if (msg[1] == EACCES || msg[1] == EPERM) {
    return absl::PermissionDeniedError(what);
  }
  return absl::FailedPreconditionError(what);
}

ExitStatus DecodeWaitStatus(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.term_signal = WTERMSIG(status);
  }
  return s;
}

std::string SignalName(int sig) {
  const char* descr = ::sigdescr_np(sig);
  return absl::StrCat(sig, " (", descr ? descr : "unknown", ")");
}

int PollMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  if (d > absl::Hours(1)) return 3600 * 1000;
  return static_cast<int>(
      absl::ToInt64Milliseconds(d + absl::Microseconds(999)));
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (term_signal != 0)
    return absl::StrCat("killed by signal ", SignalName(term_signal));
  return absl::StrCat("exited with status ", exit_code);
}

std::string RunResult::Describe() const {
  if (timed_out) return "timed out and was killed";
  ExitStatus s{exit_code, term_signal};
  return s.ToString();
}

absl::StatusOr<std::string> FindOnPath(const std::string& name,
                                       const std::string& path_env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = path_env;
  if (path.empty()) {
    const char* p = ::getenv("PATH");
    path = p ? p : "/usr/local/bin:/usr/bin:/bin";
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    std::string candidate =
        dir.empty() ? name : absl::StrCat(std::string(dir), "/", name);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cannot run ", name, ": not found on PATH (", path, ")"));
}

std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c) != nullptr;
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
  return absl::StrJoin(argv, " ", [](std::string* out, const std::string& a) {
    out->append(ShellQuote(a));
  });
}

absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv,
                                     const RunOptions& options) {
  // stdin: /dev/null, or a socket so that writing to a child that stopped
  // reading gives EPIPE (MSG_NOSIGNAL) instead of SIGPIPE.
  UniqueFd in_parent, in_child;
  if (options.stdin_data.empty()) {
    ASSIGN_OR_RETURN(in_child, OpenFile("/dev/null", O_RDONLY));
  } else {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return ErrnoError("socketpair", errno);
    }
    in_parent.reset(sv[0]);
    in_child.reset(sv[1]);
    RETURN_IF_ERROR(MoveAboveStdio(in_parent));
    RETURN_IF_ERROR(MoveAboveStdio(in_child));
    ::shutdown(in_child.get(), SHUT_WR);
  }
  UniqueFd out_read, out_write, err_read, err_write;
  RETURN_IF_ERROR(MakePipe(out_read, out_write));
  RETURN_IF_ERROR(MakePipe(err_read, err_write));

  ASSIGN_OR_RETURN(pid_t pid, StartChild(argv, options, in_child.get(),
                                         out_write.get(), err_write.get()));
  in_child.reset();
  out_write.reset();
  err_write.reset();
  UniqueFd pidfd(PidfdOpen(pid));
  for (int fd : {in_parent.get(), out_read.get(), err_read.get()}) {
    if (fd >= 0) SetNonBlocking(fd);
  }

  RunResult result;
  size_t in_offset = 0;
  bool reaped = false;
  const absl::Time deadline = absl::Now() + options.timeout;
  // Once the child is gone, a background process may still hold its pipes:
  // read what is there, then stop.
  absl::Time drain_deadline = absl::InfiniteFuture();
  char buf[65536];

  auto read_into = [&](UniqueFd& fd, std::string& sink) {
    while (true) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n > 0) {
        sink.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // EOF or error
      return;
    }
  };
  auto reap = [&](int flags) {
    int status;
    pid_t r;
    while ((r = ::waitpid(pid, &status, flags)) < 0 && errno == EINTR) {
    }
    if (r == pid) {
      ExitStatus s = DecodeWaitStatus(status);
      result.exit_code = s.exit_code;
      result.term_signal = s.term_signal;
      reaped = true;
    } else if (r < 0) {
      reaped = true;  // ECHILD: reaped elsewhere; status unknown
    }
    if (reaped && (out_read.valid() || err_read.valid())) {
      drain_deadline = absl::Now() + absl::Seconds(1);
    }
  };

  while (true) {
    if (!reaped) reap(WNOHANG);
    bool pipes_open = out_read.valid() || err_read.valid();
    if (reaped && !pipes_open) break;
    absl::Time now = absl::Now();
    if (reaped && now >= drain_deadline) break;
    if (!reaped && !result.timed_out && now >= deadline) {
      ::kill(options.new_process_group ? -pid : pid, SIGKILL);
      result.timed_out = true;
      continue;
    }

    std::vector<struct pollfd> fds;
    auto add = [&](const UniqueFd& fd, short events) {
      if (fd.valid()) fds.push_back({fd.get(), events, 0});
    };
    add(out_read, POLLIN);
    add(err_read, POLLIN);
    add(in_parent, POLLOUT);
    if (!reaped) add(pidfd, POLLIN);
    absl::Duration wait = absl::InfiniteDuration();
    if (!reaped && !result.timed_out) wait = deadline - now;
    if (reaped) wait = drain_deadline - now;
    // Without a pidfd the child's exit is noticed by polling waitpid.
    if (!reaped && !pidfd.valid())
      wait = std::min(wait, absl::Milliseconds(20));
    // Pipes closed but the child still runs: only the pidfd/timer wake us.
    int ms = wait == absl::InfiniteDuration() ? -1 : PollMillis(wait);
    int n = ::poll(fds.data(), fds.size(), ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("poll", errno);
    }
    for (const struct pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == out_read.get()) {
        read_into(out_read, result.out);
      } else if (p.fd == err_read.get()) {
        read_into(err_read, result.err);
      } else if (p.fd == in_parent.get()) {
        while (in_offset < options.stdin_data.size()) {
          ssize_t w =
              ::send(in_parent.get(), options.stdin_data.data() + in_offset,
                     options.stdin_data.size() - in_offset,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w > 0) {
            in_offset += static_cast<size_t>(w);
          } else if (w < 0 && errno == EINTR) {
            continue;
          } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
          } else {
            in_offset = options.stdin_data.size();  // child stopped reading
          }
        }
        if (in_offset >= options.stdin_data.size()) in_parent.reset();
      }
    }
  }
  if (!reaped) reap(0);
  return result;
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
    ASSIGN_OR_RETURN(out,
                     OpenFile(options.log_path,
                              O_WRONLY | O_CREAT |
                                  (options.truncate_log ? O_TRUNC : O_APPEND),
                              0644));
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
