#include "common/process/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process/user.h"
#include "common/testing/wait_for.h"

namespace gantry {
namespace {

// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
bool ProcessGone(pid_t pid) {
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() &&
         (*stat)[paren + 2] == 'Z';
}

pid_t ParsePid(const std::string& text) {
  int pid = 0;
  EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid))
      << "not a pid: '" << text << "'";
  return pid;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gantry-process-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { RunCommand({"rm", "-rf", path_}).IgnoreError(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Exit code, stdout and stderr come back separately.
TEST(RunCommandTest, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->success());
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->Describe(), "exited with status 3");
}

// Megabytes on both streams at once do not deadlock.
TEST(RunCommandTest, ReadsLargeOutputOnBothStreams) {
  auto r = RunCommand(
      {"sh", "-c",
       "head -c 3000000 /dev/zero >&2 & head -c 2000000 /dev/zero; wait"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->success()) << r->Describe();
  EXPECT_EQ(r->out.size(), 2000000u);
  EXPECT_EQ(r->err.size(), 3000000u);
}

// stdin_data reaches the child and is followed by EOF.
TEST(RunCommandTest, FeedsStdin) {
  RunOptions opts;
  opts.stdin_data = std::string(1500000, 'x') + "end";
  auto r = RunCommand({"cat"}, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->success()) << r->Describe();
  EXPECT_EQ(r->out, opts.stdin_data);
}

// A child that never reads its stdin neither blocks us nor raises SIGPIPE.
TEST(RunCommandTest, ChildIgnoringStdinIsFine) {
  RunOptions opts;
  opts.stdin_data = std::string(8 << 20, 'x');
  auto r = RunCommand({"sh", "-c", "echo done"}, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->success()) << r->Describe();
  EXPECT_EQ(r->out, "done\n");
}

// On timeout the whole process group dies, grandchildren included.
TEST(RunCommandTest, TimeoutKillsProcessGroup) {
  TempDir dir;
  std::string pidfile = dir.path() + "/pid";
  RunOptions opts;
  opts.timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  auto r = RunCommand(
      {"sh", "-c", absl::StrCat("sleep 100 & echo $! > ", pidfile, "; wait")},
      opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGKILL);
  EXPECT_FALSE(r->success());
  auto pid_text = ReadFile(pidfile);
  ASSERT_TRUE(pid_text.ok()) << pid_text.status();
  pid_t grandchild = ParsePid(*pid_text);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(grandchild); }, absl::Seconds(10)));
}

// A background process that keeps stdout open does not keep us waiting.
TEST(RunCommandTest, ReturnsWhenChildExitsDespiteHeldPipe) {
  absl::Time start = absl::Now();
  auto r = RunCommand({"sh", "-c", "sleep 60 & echo $!"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  EXPECT_TRUE(r->success()) << r->Describe();
  pid_t sleeper = ParsePid(r->out);
  ASSERT_GT(sleeper, 0);
  ::kill(sleeper, SIGKILL);
}

// working_dir, env and inherit_env shape the child's surroundings.
TEST(RunCommandTest, WorkingDirAndEnvironment) {
  TempDir dir;
  RunOptions opts;
  opts.working_dir = dir.path();
  opts.env = {{"GANTRY_TEST_VAR", "hello world"}};
  auto r = RunCommand({"sh", "-c", "pwd; echo \"$GANTRY_TEST_VAR\""}, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, dir.path() + "\nhello world\n");

  ::setenv("GANTRY_PARENT_ONLY", "1", 1);
  RunOptions clean;
  clean.inherit_env = false;
  clean.env = {{"PATH", "/usr/bin:/bin"}, {"ONLY", "this"}};
  auto e = RunCommand({"env"}, clean);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->out, "ONLY=this\nPATH=/usr/bin:/bin\n");
  auto inherited = RunCommand({"env"});
  ASSERT_TRUE(inherited.ok()) << inherited.status();
  EXPECT_NE(inherited->out.find("GANTRY_PARENT_ONLY=1"), std::string::npos);
  ::unsetenv("GANTRY_PARENT_ONLY");
}

// A missing binary or working dir is an error naming it, not a crash.
TEST(RunCommandTest, StartFailuresAreErrors) {
  auto missing = RunCommand({"gantry-no-such-binary", "x"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("gantry-no-such-binary"),
            std::string::npos);

  auto missing_path = RunCommand({"/nonexistent/dir/tool"});
  ASSERT_FALSE(missing_path.ok());
  EXPECT_EQ(missing_path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing_path.status().message().find("/nonexistent/dir/tool"),
            std::string::npos);

  RunOptions opts;
  opts.working_dir = "/nonexistent/gantry-dir";
  auto bad_dir = RunCommand({"true"}, opts);
  ASSERT_FALSE(bad_dir.ok());
  EXPECT_NE(bad_dir.status().message().find("/nonexistent/gantry-dir"),
            std::string::npos)
      << bad_dir.status();

  EXPECT_FALSE(RunCommand({}).ok());
}

// A child killed by a signal reports it, even if we ignore that signal.
TEST(RunCommandTest, ReportsTerminatingSignalWithDefaultDispositions) {
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &old), 0);
  auto r = RunCommand({"sh", "-c", "kill -USR1 $$; echo survived"});
  ::sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->term_signal, SIGUSR1) << r->Describe() << " out=" << r->out;
  EXPECT_EQ(r->out, "");
}

// Our own descriptors do not leak into children.
TEST(RunCommandTest, DoesNotLeakDescriptors) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 100), 100);
  auto r = RunCommand({"ls", "/proc/self/fd"});
  ::close(100);
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> fds =
      absl::StrSplit(r->out, '\n', absl::SkipEmpty());
  for (const std::string& f : fds) {
    EXPECT_TRUE(f == "0" || f == "1" || f == "2" || f == "3")
        << "leaked fd " << f;
  }
}

// As root, run_as_user switches uid, gid and supplementary groups.
TEST(RunCommandTest, RunsAsAnotherUser) {
  if (!RunningAsRoot()) GTEST_SKIP() << "needs root";
  auto nobody = LookupUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  RunOptions opts;
  opts.run_as_user = "nobody";
  auto r = RunCommand({"sh", "-c", "id -u; id -g; id -G; echo $USER"}, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->success()) << r->Describe() << r->err;
  std::vector<std::string> lines = absl::StrSplit(r->out, '\n');
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], absl::StrCat(nobody->uid));
  EXPECT_EQ(lines[1], absl::StrCat(nobody->gid));
  for (absl::string_view g : absl::StrSplit(lines[2], ' ')) {
    EXPECT_NE(g, "0") << "kept root's group";
  }
  EXPECT_EQ(lines[3], "nobody");

  opts.run_as_user = "gantry-no-such-user";
  auto bad = RunCommand({"true"}, opts);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("gantry-no-such-user"),
            std::string::npos);
}

// Without root, asking for another user is refused.
TEST(RunCommandTest, NonRootCannotSwitchUsers) {
  if (RunningAsRoot()) GTEST_SKIP() << "runs as root";
  RunOptions opts;
  opts.run_as_user = "root";
  auto r = RunCommand({"true"}, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ShellQuoteTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(ShellQuote("abc/def-1.2"), "abc/def-1.2");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(CommandLineString({"echo", "a b"}), "echo 'a b'");
  auto r = RunCommand({"sh", "-c", "echo " + ShellQuote("it's $HOME `x`")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "it's $HOME `x`\n");
}

// A spawned child writes to its log, and a signal to its group ends it.
TEST(ChildProcessTest, LogsAndStopsOnSignal) {
  TempDir dir;
  SpawnOptions opts;
  opts.log_path = dir.path() + "/child.log";
  auto child = ChildProcess::Spawn(
      {"sh", "-c", "echo hello; echo oops >&2; exec sleep 100"}, opts);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_GT((*child)->pid(), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto log = ReadFile(opts.log_path);
        return log.ok() && *log == "hello\noops\n";
      },
      absl::Seconds(10)));
  EXPECT_TRUE((*child)->IsRunning());
  auto still = (*child)->Wait(absl::ZeroDuration());
  EXPECT_EQ(still.status().code(), absl::StatusCode::kDeadlineExceeded);

  ASSERT_TRUE((*child)->Signal(SIGTERM).ok());
  auto status = (*child)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->term_signal, SIGTERM);
  EXPECT_FALSE((*child)->IsRunning());
  // Signalling a reaped child is a harmless no-op.
  EXPECT_TRUE((*child)->Signal(SIGKILL).ok());
  auto again = (*child)->Wait(absl::ZeroDuration());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->term_signal, SIGTERM);
}

// Wait reports the exit code; the log file is appended to, not truncated.
TEST(ChildProcessTest, ReportsExitCodeAndAppendsToLog) {
  TempDir dir;
  SpawnOptions opts;
  opts.log_path = dir.path() + "/child.log";
  ASSERT_TRUE(WriteFileAtomic(opts.log_path, "before\n").ok());
  auto child = ChildProcess::Spawn({"sh", "-c", "echo after; exit 7"}, opts);
  ASSERT_TRUE(child.ok()) << child.status();
  auto status = (*child)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 7);
  EXPECT_EQ(status->ToString(), "exited with status 7");
  auto log = ReadFile(opts.log_path);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, "before\nafter\n");
}

// Terminate escalates to SIGKILL when the child ignores the polite signal.
TEST(ChildProcessTest, TerminateEscalates) {
  TempDir dir;
  SpawnOptions opts;
  opts.log_path = dir.path() + "/child.log";
  auto child = ChildProcess::Spawn(
      {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
      opts);
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto log = ReadFile(opts.log_path);
        return log.ok() && *log == "ready\n";
      },
      absl::Seconds(10)));
  ExitStatus s = (*child)->Terminate(SIGTERM, absl::Milliseconds(300));
  EXPECT_EQ(s.term_signal, SIGKILL) << s.ToString();
}

// Destroying a running ChildProcess kills its whole group.
TEST(ChildProcessTest, DestructorKillsGroup) {
  TempDir dir;
  std::string pidfile = dir.path() + "/pid";
  auto child = ChildProcess::Spawn(
      {"sh", "-c",
       absl::StrCat("sleep 100 & echo $! > ", pidfile, ".tmp; mv ", pidfile,
                    ".tmp ", pidfile, "; wait")});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(WaitFor([&] { return FileExists(pidfile); }, absl::Seconds(10)));
  pid_t grandchild = ParsePid(*ReadFile(pidfile));
  pid_t pid = (*child)->pid();
  child->reset();
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(grandchild); }, absl::Seconds(10)));
}

// A missing binary fails Spawn with NotFound.
TEST(ChildProcessTest, SpawnMissingBinary) {
  auto child = ChildProcess::Spawn({"/nonexistent/gantry-controller"});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), absl::StatusCode::kNotFound);
}

// kill_on_parent_death: the child dies with the thread that spawned it.
TEST(ChildProcessTest, KillOnParentDeath) {
  std::unique_ptr<ChildProcess> child;
  absl::Status spawn_status;
  std::thread spawner([&] {
    SpawnOptions opts;
    opts.kill_on_parent_death = true;
    auto c = ChildProcess::Spawn({"sleep", "100"}, opts);
    spawn_status = c.status();
    if (c.ok()) child = std::move(*c);
  });
  spawner.join();
  ASSERT_TRUE(spawn_status.ok()) << spawn_status;
  auto status = child->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->term_signal, SIGKILL);
}

// Reads `fd` (non-blocking) until EOF or `deadline`, polling for input.
std::string ReadUntilEof(int fd, absl::Duration deadline) {
  std::string out;
  absl::Time end = absl::Now() + deadline;
  char buf[4096];
  while (absl::Now() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    ::poll(&p, 1, 100);
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno != EAGAIN && errno != EINTR) {
      break;
    }
  }
  ADD_FAILURE() << "no EOF on the output pipe; read so far: " << out;
  return out;
}

// capture_output: stdout and stderr arrive merged, in the order written, on
// one non-blocking pipe that reaches EOF when the child is done with it.
TEST(ChildProcessTest, CapturesMergedOutput) {
  SpawnOptions opts;
  opts.capture_output = true;
  opts.log_path = "/nonexistent/unused.log";  // ignored with capture_output
  auto child =
      ChildProcess::Spawn({"sh", "-c", "echo one; echo two >&2; echo three; exit 3"}, opts);
  ASSERT_TRUE(child.ok()) << child.status();
  int fd = (*child)->output_fd();
  ASSERT_GE(fd, 0);
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(ReadUntilEof(fd, absl::Seconds(30)), "one\ntwo\nthree\n");
  auto status = (*child)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 3);
  (*child)->CloseOutput();
  EXPECT_EQ((*child)->output_fd(), -1);

  auto quiet = ChildProcess::Spawn({"true"});
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_EQ((*quiet)->output_fd(), -1);
}

// HasExited sees the exit without reaping: the child stays a zombie (its
// pid, and its group's id, still taken) until Wait collects the status.
// exit_fd() becomes readable at the exit.
TEST(ChildProcessTest, HasExitedDoesNotReap) {
  TempDir dir;
  const std::string go = dir.path() + "/go";
  auto child = ChildProcess::Spawn(
      {"sh", "-c", absl::StrCat("while [ ! -f ", go, " ]; do sleep 0.01; done; exit 4")});
  ASSERT_TRUE(child.ok()) << child.status();
  ChildProcess& c = **child;
  EXPECT_FALSE(c.HasExited());
  if (c.exit_fd() >= 0) {
    struct pollfd p = {c.exit_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0);
  }
  ASSERT_TRUE(WriteFileAtomic(go, "").ok());
  ASSERT_TRUE(WaitFor([&] { return c.HasExited(); }, absl::Seconds(30)));
  if (c.exit_fd() >= 0) {
    struct pollfd p = {c.exit_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 1);
  }
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", c.pid(), "/stat"));
  ASSERT_TRUE(stat.ok()) << "reaped too early: " << stat.status();
  EXPECT_NE(stat->find(") Z "), std::string::npos) << *stat;
  // Signalling the group of an exited, unreaped child is harmless.
  EXPECT_TRUE(c.Signal(SIGTERM).ok());
  auto status = c.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->exit_code, 4);
  EXPECT_TRUE(c.HasExited());
}

// `executable` is what runs; argv[0] reaches the child as given.
TEST(ChildProcessTest, ExecutableOverridesTheLookupNotArgv0) {
  SpawnOptions opts;
  opts.capture_output = true;
  opts.executable = "/bin/sh";
  auto child = ChildProcess::Spawn({"configured-name", "-c", "echo \"$0\""}, opts);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadUntilEof((*child)->output_fd(), absl::Seconds(30)), "configured-name\n");
  auto status = (*child)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->success()) << status->ToString();
}

// shell_fallback: an executable file without a #! line runs under /bin/sh
// with its arguments; without it, exec fails with ENOEXEC.
TEST(ChildProcessTest, ShellFallbackRunsScriptsWithoutShebang) {
  TempDir dir;
  std::string script = dir.path() + "/plain.sh";
  ASSERT_TRUE(WriteFileAtomic(script, "echo \"args: $*\"\n").ok());
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);

  SpawnOptions opts;
  opts.capture_output = true;
  opts.shell_fallback = true;
  auto child = ChildProcess::Spawn({script, "a", "b c"}, opts);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(ReadUntilEof((*child)->output_fd(), absl::Seconds(30)), "args: a b c\n");
  ASSERT_TRUE((*child)->Wait(absl::Seconds(30)).ok());

  opts.shell_fallback = false;
  StartFailure failure;
  auto refused = ChildProcess::Spawn({script}, opts, &failure);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(failure.step, StartFailure::Step::kExec);
  EXPECT_EQ(failure.error, ENOEXEC);
}

// StartFailure names the step that failed in the child and its errno, for
// callers that word their own messages.
TEST(ChildProcessTest, StartFailureSaysWhichStep) {
  TempDir dir;
  StartFailure failure;
  SpawnOptions opts;
  opts.working_dir = dir.path() + "/missing";
  auto no_dir = ChildProcess::Spawn({"true"}, opts, &failure);
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(failure.step, StartFailure::Step::kChdir);
  EXPECT_EQ(failure.error, ENOENT);

  std::string file = dir.path() + "/not-executable";
  ASSERT_TRUE(WriteFileAtomic(file, "echo hi\n").ok());
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  SpawnOptions plain;
  plain.executable = file;
  auto denied = ChildProcess::Spawn({"./not-executable"}, plain, &failure);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(failure.step, StartFailure::Step::kExec);
  EXPECT_EQ(failure.error, EACCES);

  auto ok = ChildProcess::Spawn({"true"}, {}, &failure);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(failure.step, StartFailure::Step::kNone);
}

TEST(FindOnPathTest, FindsExecutables) {
  auto sh = FindOnPath("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(sh.ok()) << sh.status();
  EXPECT_EQ(*sh, "/bin/sh");
  EXPECT_FALSE(FindOnPath("gantry-no-such-binary", "/bin").ok());
  EXPECT_EQ(*FindOnPath("./x", "/bin"), "./x");
}

}  // namespace
}  // namespace gantry
