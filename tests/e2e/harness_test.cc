// Self-test of the e2e harness, with stand-in shell scripts for the gantry
// binaries so that it does not depend on them.
#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"

namespace gantry::e2e {
namespace {

// Points $GANTRY_BIN_DIR at a temp dir of fake binaries for one test.
class FakeBinDir {
 public:
  FakeBinDir() {
    char tmpl[] = "/tmp/gantry-e2e-fakebin-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    const char* old = ::getenv("GANTRY_BIN_DIR");
    if (old != nullptr) old_ = old;
    ::setenv("GANTRY_BIN_DIR", dir_.c_str(), 1);
  }
  ~FakeBinDir() {
    if (old_) {
      ::setenv("GANTRY_BIN_DIR", old_->c_str(), 1);
    } else {
      ::unsetenv("GANTRY_BIN_DIR");
    }
    RunCommand({"rm", "-rf", dir_}).IgnoreError();
  }
  void Add(const std::string& name, const std::string& script) {
    ASSERT_TRUE(
        WriteFileAtomic(dir_ + "/" + name, "#!/bin/sh\n" + script, 0755).ok());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::optional<std::string> old_;
};

// Behaves like gantry-controller as far as the harness can tell.
constexpr char kFakeController[] = R"(
echo "fake controller $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) dir="$2"; shift 2 ;;
    --listen) listen="$2"; shift 2 ;;
    *) shift ;;
  esac
done
port="${listen##*:}"
[ "$port" = 0 ] && port=45678
echo token > "$dir/admin.token"
echo key > "$dir/agent-register.key"
printf '127.0.0.1:%s\n' "$port" > "$dir/controller.addr.tmp"
mv "$dir/controller.addr.tmp" "$dir/controller.addr"
exec sleep 1000
)";

absl::StatusOr<std::string> CurrentDatabase(const std::string& url) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return std::string(tx.exec("SELECT current_database()")[0][0].c_str());
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
}

// SharedPostgres runs, and every Cluster gets a database of its own in it.
TEST(HarnessTest, ClustersGetDistinctDatabases) {
  absl::StatusOr<EmbeddedPostgres*> pg = SharedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<EmbeddedPostgres*> again = SharedPostgres();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*pg, *again);

  Cluster a;
  Cluster b;
  EXPECT_NE(a.database(), b.database());
  EXPECT_NE(a.dir(), b.dir());
  auto db_a = CurrentDatabase(a.database_url());
  ASSERT_TRUE(db_a.ok()) << db_a.status();
  EXPECT_EQ(*db_a, a.database());
  auto db_b = CurrentDatabase(b.database_url());
  ASSERT_TRUE(db_b.ok()) << db_b.status();
  EXPECT_EQ(*db_b, b.database());
}

// A passing test's Cluster removes its directory and drops its database.
TEST(HarnessTest, CleansUpAfterPassingTest) {
  std::string dir, url;
  {
    Cluster c;
    dir = c.dir();
    url = c.database_url();
    ASSERT_TRUE(FileExists(dir));
    c.WriteFile("x/y.txt", "hi");
  }
  EXPECT_FALSE(FileExists(dir));
  EXPECT_FALSE(CurrentDatabase(url).ok());
}

// A shared server left running by a dead test process is stopped and removed.
TEST(HarnessTest, StopsOrphanedPostgres) {
  // A parent of our own, out of reach of concurrent tests' janitors.
  char tmpl[] = "/tmp/gantry-e2e-janitor-XXXXXX";
  std::string parent = ::mkdtemp(tmpl);
  ::chmod(parent.c_str(), 0755);
  std::string dir = parent + "/gantry-e2e-pg-orphan";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(dir + "/owner.pid", "12345\n").ok());
  std::string alive = parent + "/gantry-e2e-pg-alive";  // its owner lives
  ASSERT_EQ(::mkdir(alive.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(alive + "/owner.pid", "1\n").ok());
  int held = ::open((alive + "/owner.pid").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  auto orphan = EmbeddedPostgres::Start(SharedPostgresOptions(dir));
  ASSERT_TRUE(orphan.ok()) << orphan.status();
  std::string conninfo = (*orphan)->ConnectionString();
  (*orphan)->Detach();
  orphan->reset();
  ASSERT_TRUE(CurrentDatabase(conninfo).ok()) << "the orphan should run";

  // Locked by a live owner, so left alone even though it looks the same.
  ASSERT_EQ(::mkdir((alive + "/pg").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomic(alive + "/pg/postmaster.pid", "1\n").ok());

  StopOrphanedPostgres(parent);
  EXPECT_FALSE(CurrentDatabase(conninfo).ok()) << "the orphan still runs";
  EXPECT_FALSE(FileExists(dir));
  EXPECT_TRUE(FileExists(alive + "/pg/postmaster.pid"));
  ::close(held);
  RunCommand({"rm", "-rf", parent}).IgnoreError();
}

// WaitFor returns true as soon as the condition holds, false at the deadline.
TEST(HarnessTest, WaitForHonoursDeadline) {
  absl::Time start = absl::Now();
  EXPECT_FALSE(WaitFor([] { return false; }, absl::Milliseconds(200)));
  absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(5));

  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls == 3; }, absl::Seconds(30)));
  EXPECT_EQ(calls, 3);
  start = absl::Now();
  EXPECT_TRUE(WaitFor([] { return true; }, absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// Missing binaries are clear errors, not crashes.
TEST(HarnessTest, MissingBinariesAreClearErrors) {
  FakeBinDir bin;  // empty
  Cluster c;
  CliResult r = c.Cli({"agent", "list"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_TRUE(absl::StrContains(r.err, bin.dir() + "/gantry")) << r.ToString();
  absl::Status s = c.StartController();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(s.message(), "gantry-controller")) << s;
  EXPECT_FALSE(c.StartAgent().ok());
}

// Start, kill and restart the controller and agents; run the CLI; files and
// logs land in the cluster's directory.
TEST(HarnessTest, DrivesProcesses) {
  FakeBinDir bin;
  bin.Add("gantry-controller", kFakeController);
  bin.Add("gantry-agent", "echo \"fake agent $*\"\nexec sleep 1000\n");
  bin.Add("gantry", "echo \"args: $*\"\necho oops >&2\nexit 3\n");
  Cluster c;

  EXPECT_FALSE(c.StartAgent().ok()) << "no controller yet";
  ASSERT_TRUE(c.StartController({"--agent-lost-timeout", "5"}).ok())
      << c.ControllerLog();
  EXPECT_EQ(c.controller_addr(), "127.0.0.1:45678");
  EXPECT_TRUE(c.ControllerRunning());
  EXPECT_TRUE(FileExists(c.admin_token_file()));
  EXPECT_TRUE(absl::StrContains(c.ControllerLog(), "--listen 127.0.0.1:0"));
  EXPECT_TRUE(absl::StrContains(c.ControllerLog(), "--agent-lost-timeout 5"));
  EXPECT_TRUE(absl::StrContains(c.ControllerLog(), c.database()));

  CliResult r = c.Cli({"pipeline", "show", "build/1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out,
            absl::StrCat("args: --controller 127.0.0.1:45678 --token-file ",
                         c.admin_token_file(), " --ca-file ", c.ca_file(),
                         " pipeline show build/1\n"));
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_TRUE(absl::StrContains(c.CliLog(), "pipeline show build/1"));

  AgentOptions first;
  first.resources = {"linux", "docker"};
  first.environments = {"prod"};
  auto a0 = c.StartAgent(first);
  ASSERT_TRUE(a0.ok()) << a0.status();
  AgentOptions deployer;
  deployer.name = "deployer";
  auto a1 = c.StartAgent(deployer);
  ASSERT_TRUE(a1.ok()) << a1.status();
  EXPECT_EQ(*a0, 0);
  EXPECT_EQ(*a1, 1);
  EXPECT_FALSE(c.StartAgent(deployer).ok()) << "duplicate name";
  EXPECT_EQ(c.agent_name(0), "agent-0");
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(c.AgentLog(0), "fake agent"); },
              absl::Seconds(10)));
  EXPECT_TRUE(absl::StrContains(c.AgentLog(0), "--resources linux,docker"));
  EXPECT_TRUE(absl::StrContains(c.AgentLog(0), "--environments prod"));
  EXPECT_TRUE(absl::StrContains(c.AgentLog(0), "--controller 127.0.0.1:45678"));
  EXPECT_TRUE(absl::StrContains(c.AgentLog(1), "--name deployer"));

  ExitStatus killed = c.KillAgent(0);
  EXPECT_EQ(killed.term_signal, SIGKILL);
  EXPECT_FALSE(c.AgentRunning(0));
  EXPECT_TRUE(c.AgentRunning(1));
  ASSERT_TRUE(c.RestartAgent(0).ok());
  EXPECT_TRUE(c.AgentRunning(0));

  ExitStatus stopped = c.KillController(SIGTERM);
  EXPECT_EQ(stopped.term_signal, SIGTERM);
  EXPECT_FALSE(c.ControllerRunning());
  ASSERT_TRUE(c.RestartController().ok()) << c.ControllerLog();
  EXPECT_TRUE(c.ControllerRunning());
  // The restarted controller keeps its port, so agents find it again.
  EXPECT_TRUE(absl::StrContains(c.ControllerLog(), "--listen 127.0.0.1:45678"));
  EXPECT_EQ(c.controller_addr(), "127.0.0.1:45678");

  std::string path = c.WriteFile("configs/p.yaml", "format_version: 10\n");
  EXPECT_EQ(path, c.dir() + "/configs/p.yaml");
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "format_version: 10\n");
  EXPECT_TRUE(absl::StrContains(c.LogTails(), "fake controller"));
}

// A controller that exits before serving is reported with its log, at once.
TEST(HarnessTest, ControllerDyingAtStartIsReported) {
  FakeBinDir bin;
  bin.Add("gantry-controller", "echo boom: no database >&2\nexit 3\n");
  Cluster c;
  absl::Time start = absl::Now();
  absl::Status s = c.StartController();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "boom: no database")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "exited with status 3")) << s;
  EXPECT_FALSE(c.ControllerRunning());
}

}  // namespace
}  // namespace gantry::e2e
