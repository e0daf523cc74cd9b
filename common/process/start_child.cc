// fork + execve: the plan made in the parent, the child's async-signal-safe
// steps, and how a failed step is reported back.
#include "common/process/start_child.h"

#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/process/fds.h"
#include "common/process/user.h"
#include "common/status_macros.h"

extern char** environ;

namespace gantry::process_internal {
namespace {

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

// The caller's environment (when `inherit`), as a map to override.
std::map<std::string, std::string> StartingEnvironment(bool inherit) {
  std::map<std::string, std::string> env;
  if (!inherit) return env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

// run_as_user: as root, the user, group and groups to switch to; the user's
// HOME/USER/LOGNAME either way.
absl::Status ApplyRunAsUser(const std::string& command, const std::string& run_as_user,
                            ExecPlan& plan, std::map<std::string, std::string>& env) {
  absl::StatusOr<UserInfo> user = LookupUser(run_as_user);
  if (!user.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot run ", command, " as user '",
                                                      run_as_user, "': ", user.status().message()));
  }
  if (RunningAsRoot()) {
    plan.change_user = user->uid != 0 || user->gid != 0;
    plan.uid = user->uid;
    plan.gid = user->gid;
    plan.groups = user->groups;
  } else if (user->uid != ::geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat("cannot run ", command, " as user '",
                                                    run_as_user, "': only root can switch users"));
  }
  env["HOME"] = user->home;
  env["USER"] = user->name;
  env["LOGNAME"] = user->name;
  return absl::OkStatus();
}

// argv (and the /bin/sh fallback's) and the environment as execve wants
// them: NUL-terminated arrays into strings the plan owns.
void FillExecArrays(const std::vector<std::string>& argv, bool shell_fallback,
                    const std::map<std::string, std::string>& env, ExecPlan& plan) {
  plan.argv_storage = argv;
  for (auto& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  if (shell_fallback) {
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
}

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

  std::map<std::string, std::string> env = StartingEnvironment(options.inherit_env);
  if (!options.run_as_user.empty()) {
    RETURN_IF_ERROR(ApplyRunAsUser(argv[0], options.run_as_user, plan, env));
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
  FillExecArrays(argv, options.shell_fallback, env, plan);
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
[[noreturn]] void ChildMain(const ExecPlan& plan, int in_fd, int out_fd, int err_fd,
                            int report_fd) {
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

}  // namespace

absl::StatusOr<pid_t> StartChild(const std::vector<std::string>& argv,
                                 const ProcessOptions& options, int in_fd, int out_fd, int err_fd,
                                 StartFailure* failure) {
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
    ssize_t n = ::read(report_read.get(), reinterpret_cast<char*>(msg) + got, sizeof(msg) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == 0) return pid;  // exec closed the pipe: the command is running

  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (failure != nullptr) *failure = {StepOf(msg[0]), msg[1]};
  std::string what = absl::StrCat("cannot run ", CommandLineString(argv), ": ", StageName(msg[0]));
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

}  // namespace gantry::process_internal
