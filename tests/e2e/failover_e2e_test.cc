// End-to-end: two controllers on one PostgreSQL (docs/operations.md, "Two
// controllers on one database"). The cluster's controller leads; a second
// one, its data dir seeded with the first's secrets as the docs say, stands
// by. Agents and the CLI are given both addresses.
//
// - The leader is killed with -9 in the middle of 30 runs: the standby takes
//   over, the agents follow it, and every run finishes exactly once, counted
//   by a marker file each job appends to. The takeover time is printed.
// - A leader stopped with SIGSTOP is taken over; when it resumes it cannot
//   commit what an agent told it meanwhile (the lease's epoch fences it), it
//   exits, and the new leader records the job once.
// - A standby picks up the key file an operator copied in after `gantry
//   secret rotate-key` on the leader, without a restart, and once it has
//   taken over gives jobs the secure values the rotation re-encrypted, also
//   when the old key was dropped from the file after the rotation.
//
// Jobs' `sleep`s are their payload (time for runs to be in flight), not
// waits: every wait here is a condition with a deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/process.h"
#include "tests/chaos/tcp_proxy.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(90);
const std::vector<std::string> kLeaseFlags = {
    "--lease-timeout", "2s", "--agent-lost-timeout", "20", "--heartbeat-interval", "1"};

std::string ReadOrEmpty(const std::string& path) {
  auto content = ReadFile(path);
  return content.ok() ? *content : "";
}

// The second controller, on the cluster's database.
class Standby {
 public:
  absl::Status Start(Cluster& cluster) {
    namespace fs = std::filesystem;
    dir_ = cluster.dir() + "/standby";
    log_ = cluster.dir() + "/logs/standby.log";
    if (auto st = MakeDirs(dir_); !st.ok()) return st;
    // The secrets both controllers share: the CA (agents verify either
    // controller, and either recognises their certificates), the cipher
    // key, the admin token and the register key. Not controller.id: that
    // names this data dir.
    std::error_code ec;
    fs::copy(cluster.data_dir() + "/tls", dir_ + "/tls", fs::copy_options::recursive, ec);
    if (ec) return absl::InternalError(ec.message());
    for (const char* file : {"cipher.key", "admin.token", "agent-register.key"}) {
      fs::copy_file(cluster.data_dir() + "/" + file, dir_ + "/" + file, ec);
      if (ec) return absl::InternalError(absl::StrCat(file, ": ", ec.message()));
    }
    std::vector<std::string> argv = {BinDir() + "/gantry-controller",
                                     "--data-dir",
                                     dir_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--database-url",
                                     cluster.database_url(),
                                     "--log-level",
                                     "debug"};
    argv.insert(argv.end(), kLeaseFlags.begin(), kLeaseFlags.end());
    SpawnOptions options;
    options.log_path = log_;
    options.kill_on_parent_death = true;
    auto child = ChildProcess::Spawn(argv, options);
    if (!child.ok()) return child.status();
    process_ = std::move(*child);
    bool up = WaitFor(
        [&] {
          return absl::EndsWith(ReadOrEmpty(dir_ + "/controller.addr"), "\n") ||
                 !process_->IsRunning();
        },
        absl::Seconds(30));
    address_ = std::string(absl::StripAsciiWhitespace(ReadOrEmpty(dir_ + "/controller.addr")));
    if (!up || address_.empty()) {
      return absl::UnavailableError(absl::StrCat("standby did not start:\n", Log()));
    }
    return absl::OkStatus();
  }

  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }
  std::string Log() const { return ReadOrEmpty(log_); }
  ChildProcess& process() { return *process_; }

 private:
  std::string dir_;
  std::string log_;
  std::string address_;
  std::unique_ptr<ChildProcess> process_;
};

std::map<std::string, int> CountLines(const std::string& text) {
  std::map<std::string, int> counts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    ++counts[std::string(absl::StripAsciiWhitespace(line))];
  }
  return counts;
}

class FailoverE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (proxied_database_) {
      // The leader reaches PostgreSQL through a proxy the test can cut.
      auto pg = SharedPostgres();
      ASSERT_TRUE(pg.ok()) << pg.status();
      auto proxy = chaos::TcpProxy::StartToUnix(
          absl::StrCat((*pg)->socket_dir(), "/.s.PGSQL.", (*pg)->port()));
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      db_proxy_ = std::move(*proxy);
      std::string port = db_proxy_->address().substr(db_proxy_->address().rfind(':') + 1);
      cluster_.SetControllerDatabaseUrl(
          absl::StrCat("host=127.0.0.1 port=", port, " user=", EmbeddedPostgres::kSuperuser,
                       " dbname=", cluster_.database(), " sslmode=disable gssencmode=disable"));
    }
    ASSERT_TRUE(cluster_.StartController(kLeaseFlags).ok()) << cluster_.LogTails();
    ASSERT_TRUE(standby_.Start(cluster_).ok()) << standby_.Log();
    ASSERT_TRUE(WaitFor([&] { return absl::StrContains(standby_.Log(), "standing by"); },
                        absl::Seconds(30)))
        << standby_.Log();
    both_ = absl::StrCat(cluster_.controller_addr(), ",", standby_.address());
  }

  // Agents and the CLI given both controllers.
  void StartAgents(int n) {
    cluster_.SetCliControllers(both_);
    for (int i = 0; i < n; ++i) {
      AgentOptions options;
      options.name = absl::StrCat("a", i);
      options.controller_addr = both_;
      ASSERT_TRUE(cluster_.StartAgent(options).ok()) << cluster_.LogTails();
    }
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();
  }

  std::string Tails() { return cluster_.LogTails() + "--- standby:\n" + standby_.Log(); }

  // How often the standby logged that its key file changed.
  int KeyFileChanges() {
    const std::string log = standby_.Log();
    const std::string line = standby_.dir() + "/cipher.key changed: key ";
    int n = 0;
    for (size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) ++n;
    return n;
  }

  // The leader killed with -9; the standby, once it leads, runs pipeline
  // "vault" (VaultYaml) and its job sees `password`.
  void TakeOverAndCheckVault(const std::string& password) {
    ExitStatus killed = cluster_.KillController(SIGKILL);
    EXPECT_EQ(killed.term_signal, SIGKILL) << killed.ToString();
    ASSERT_TRUE(
        WaitFor([&] { return absl::StrContains(standby_.Log(), "took over as the leader"); },
                absl::Seconds(30)))
        << Tails();
    CliResult trigger = cluster_.Cli({"pipeline", "trigger", "vault"});
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
    ASSERT_TRUE(cluster_.WaitForRunState("vault/1", "passed", kDeadline)) << Tails();
    std::string log = cluster_.JobLog("vault/1/use/1/j").value_or("");
    EXPECT_TRUE(absl::StrContains(log, Sha256Hex(password))) << log << Tails();
  }

  bool proxied_database_ = false;
  std::unique_ptr<chaos::TcpProxy> db_proxy_;
  Cluster cluster_;
  Standby standby_;
  std::string both_;
};

class FailoverDatabaseLossE2eTest : public FailoverE2eTest {
 protected:
  FailoverDatabaseLossE2eTest() { proxied_database_ = true; }
};

// The leader loses its database (the standby keeps it): it cannot renew, so
// once its lease has run out by its own clock it stops (status 75) rather
// than keep agents whose work it can no longer record, and the standby,
// seeing the lease run out by the database's clock, takes over.
TEST_F(FailoverDatabaseLossE2eTest, ALeaderThatLosesItsDatabaseStepsDownAndTheStandbyTakesOver) {
  absl::Time cut = absl::Now();
  db_proxy_->Cut(absl::Minutes(10));
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(standby_.Log(), "took over as the leader"); },
                      absl::Seconds(30)))
      << Tails();
  std::cout << "failover: leader's database cut -> standby serving "
            << absl::FormatDuration(absl::Now() - cut) << " (lease timeout 2s)\n";
  ASSERT_TRUE(WaitFor([&] { return !cluster_.ControllerRunning(); }, absl::Seconds(30))) << Tails();
  EXPECT_TRUE(absl::StrContains(cluster_.ControllerLog(), "the leader lease ran out")) << Tails();
  cluster_.SetCliControllers(both_);
  CliResult status = cluster_.Cli({"-o", "json", "controller", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.ToString();
  EXPECT_TRUE(absl::StrContains(status.out, "\"epoch\": 2")) << status.out;
  ExitStatus ended = cluster_.KillController(SIGKILL);
  EXPECT_EQ(ended.exit_code, 75) << ended.ToString();
  // The new leader takes writes.
  cluster_.SetCliControllers(standby_.address());
  ASSERT_TRUE(cluster_
                  .ApplyConfig("format_version: 10\npipelines:\n  p:\n    group: e2e\n"
                               "    stages:\n      - s:\n          jobs:\n            j:\n"
                               "              tasks:\n                - exec: {command: 'true'}\n")
                  .ok())
      << Tails();
}

TEST_F(FailoverE2eTest, AStandbyAnswersReadsAndSendsWritesToTheLeader) {
  ASSERT_TRUE(cluster_
                  .ApplyConfig("format_version: 10\npipelines:\n  p:\n    group: e2e\n"
                               "    stages:\n      - s:\n          jobs:\n            j:\n"
                               "              tasks:\n                - exec: {command: 'true'}\n")
                  .ok())
      << Tails();
  // Who leads, asked of both.
  cluster_.SetCliControllers(both_);
  CliResult status = cluster_.Cli({"controller", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.ToString();
  EXPECT_TRUE(absl::StrContains(status.out, absl::StrCat(cluster_.controller_addr())) &&
              absl::StrContains(status.out, "leader ") && absl::StrContains(status.out, "standby "))
      << status.out;
  // The standby alone: reads come from the database, the config applied on
  // the leader included; a write names the leader.
  cluster_.SetCliControllers(standby_.address());
  EXPECT_TRUE(WaitFor(
      [&] {
        CliResult list = cluster_.Cli({"pipeline", "list"});
        return list.exit_code == 0 && absl::StrContains(list.out, "p");
      },
      absl::Seconds(10), kCliPoll))
      << Tails();
  CliResult who = cluster_.Cli({"whoami"});
  EXPECT_EQ(who.exit_code, 0) << who.ToString();
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "p"});
  EXPECT_NE(trigger.exit_code, 0) << trigger.ToString();
  EXPECT_TRUE(absl::StrContains(
      trigger.err, absl::StrCat("not the leader (leader at ", cluster_.controller_addr(), ")")))
      << trigger.ToString();
  CliResult agents = cluster_.Cli({"agent", "list"});
  EXPECT_NE(agents.exit_code, 0) << agents.ToString();
  EXPECT_TRUE(absl::StrContains(agents.err, "not the leader")) << agents.ToString();
  // Nothing was triggered anywhere.
  cluster_.SetCliControllers(cluster_.controller_addr());
  CliResult history = cluster_.Cli({"pipeline", "history", "p"});
  EXPECT_EQ(history.exit_code, 0) << history.ToString();
  EXPECT_FALSE(absl::StrContains(history.out, "p/1")) << history.out;
}

TEST_F(FailoverE2eTest, LeaderKilledInTheMiddleOfThirtyRunsEachRunFinishesOnce) {
  StartAgents(3);
  const std::string marks = cluster_.dir() + "/marks";
  // Three pipelines, so three runs go at once (runs of one pipeline take a
  // stage one at a time).
  std::string yaml = "format_version: 10\npipelines:\n";
  for (int p = 0; p < 3; ++p) {
    absl::StrAppend(&yaml, "  p", p,
                    ":\n    group: e2e\n    stages:\n      - s:\n          jobs:\n"
                    "            j:\n              tasks:\n                - exec:\n"
                    "                    command: /bin/sh\n"
                    "                    arguments: [-c, 'echo $GANTRY_PIPELINE_NAME/"
                    "$GANTRY_PIPELINE_COUNTER >> ",
                    marks, "; sleep 0.3']\n");
  }
  ASSERT_TRUE(cluster_.ApplyConfig(yaml).ok()) << Tails();
  for (int i = 0; i < 10; ++i) {
    for (int p = 0; p < 3; ++p) {
      CliResult t = cluster_.Cli({"pipeline", "trigger", absl::StrCat("p", p)});
      ASSERT_EQ(t.exit_code, 0) << t.ToString();
    }
  }
  ASSERT_TRUE(WaitFor([&] { return CountLines(ReadOrEmpty(marks)).size() >= 9; }, kDeadline))
      << Tails();

  absl::Time killed_at = absl::Now();
  ExitStatus killed = cluster_.KillController(SIGKILL);
  EXPECT_EQ(killed.term_signal, SIGKILL) << killed.ToString();
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(standby_.Log(), "took over as the leader"); },
                      absl::Seconds(30)))
      << Tails();
  absl::Duration takeover = absl::Now() - killed_at;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto agents = cluster_.ListAgents();
        if (!agents.ok()) return false;
        int connected = 0;
        for (const auto& a : *agents) connected += a.connected() ? 1 : 0;
        return connected == 3;
      },
      absl::Seconds(30), kCliPoll))
      << Tails();
  absl::Duration agents_back = absl::Now() - killed_at;
  std::cout << "failover: leader killed -> standby serving " << absl::FormatDuration(takeover)
            << " (lease timeout 2s), all 3 agents connected to it "
            << absl::FormatDuration(agents_back) << "\n";

  for (int p = 0; p < 3; ++p) {
    std::string locator = absl::StrCat("p", p, "/10");
    EXPECT_TRUE(cluster_.WaitForRunState(locator, "passed", kDeadline)) << locator << "\n"
                                                                        << Tails();
  }
  std::map<std::string, int> counts = CountLines(ReadOrEmpty(marks));
  EXPECT_EQ(counts.size(), 30u) << ReadOrEmpty(marks);
  for (const auto& [run, n] : counts) EXPECT_EQ(n, 1) << run << " ran " << n << " times";
  for (int p = 0; p < 3; ++p) {
    for (int n = 1; n <= 10; ++n) {
      auto run = cluster_.ShowRun(absl::StrCat("p", p, "/", n));
      ASSERT_TRUE(run.ok()) << run.status();
      EXPECT_EQ(run->state(), "passed") << run->DebugString();
    }
  }
}

TEST_F(FailoverE2eTest, AStoppedLeaderIsFencedWhenItResumes) {
  StartAgents(1);
  const std::string marks = cluster_.dir() + "/marks";
  const std::string go = cluster_.dir() + "/go";
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat(
                      "format_version: 10\npipelines:\n  held:\n    group: e2e\n    stages:\n"
                      "      - s:\n          jobs:\n            j:\n              tasks:\n"
                      "                - exec:\n                    command: /bin/sh\n"
                      "                    arguments: [-c, 'echo ran >> ",
                      marks, "; while [ ! -e ", go, " ]; do sleep 0.05; done']\n"))
                  .ok())
      << Tails();
  CliResult t = cluster_.Cli({"pipeline", "trigger", "held"});
  ASSERT_EQ(t.exit_code, 0) << t.ToString();
  ASSERT_TRUE(WaitFor([&] { return FileExists(marks); }, kDeadline)) << Tails();

  // The leader stalls; the standby takes over once the lease runs out.
  cluster_.KillController(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(standby_.Log(), "took over as the leader"); },
                      absl::Seconds(30)))
      << Tails();
  // The job ends while the old leader is stopped: the agent's report waits
  // in the old leader's socket.
  ASSERT_TRUE(WriteFileAtomic(go, "", 0644).ok());
  cluster_.KillController(SIGCONT);

  // Resumed, the old leader finds its epoch gone and stops, having
  // committed nothing; status 75 asks its supervisor to start it again.
  ASSERT_TRUE(WaitFor([&] { return !cluster_.ControllerRunning(); }, absl::Seconds(30))) << Tails();
  std::string old_log = cluster_.ControllerLog();
  EXPECT_TRUE(absl::StrContains(old_log, "fenced: another controller took the leader lease"))
      << Tails();
  ExitStatus ended = cluster_.KillController(SIGKILL);
  EXPECT_EQ(ended.exit_code, 75) << ended.ToString();

  // The agent comes to the new leader and reports the job there, once.
  EXPECT_TRUE(cluster_.WaitForRunState("held/1", "passed", kDeadline)) << Tails();
  EXPECT_EQ(CountLines(ReadOrEmpty(marks))["ran"], 1);
}

// A pipeline with a secure variable whose job prints the value's digest:
// what it saw, without showing it.
std::string VaultYaml(const std::string& password) {
  return absl::StrCat(
      "format_version: 10\npipelines:\n  vault:\n    group: e2e\n"
      "    secure_variables:\n      PASSWORD: ",
      password,
      "\n    stages:\n      - use:\n          jobs:\n            j:\n"
      "              tasks:\n                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments: [-c, \"printf %s \\\"$PASSWORD\\\" | sha256sum\"]\n");
}

TEST_F(FailoverE2eTest, AStandbyPicksUpARotatedKeyAndDecryptsAfterTakeover) {
  StartAgents(1);
  const std::string password = absl::StrCat("pw-", RandomHex(8));
  // Rotated before the config is applied, so its value exists only under
  // the new key (a standby's cache of an older revision could still hold
  // the value under the old one).
  CliResult rotate = cluster_.Cli({"secret", "rotate-key"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.ToString() << Tails();
  CliResult apply = cluster_.Cli(
      {"config", "apply", "-f", cluster_.WriteFile("vault.yaml", VaultYaml(password))});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();

  // The operator copies the leader's key file to the standby, which reads
  // it at its next poll.
  ASSERT_TRUE(WriteFileAtomic(standby_.dir() + "/cipher.key",
                              ReadOrEmpty(cluster_.data_dir() + "/cipher.key"), 0600)
                  .ok());
  EXPECT_TRUE(WaitFor([&] { return KeyFileChanges() == 1; }, absl::Seconds(30))) << standby_.Log();
  TakeOverAndCheckVault(password);
}

// security.md lets the operator drop the old key once nothing needs it. A
// standby that parsed the config under the old key parses it again when its
// keys change (the rotation re-encrypted it under the same revision), so
// after taking over with only the new key it still decrypts the value.
TEST_F(FailoverE2eTest, AStandbyParsesTheConfigAgainWhenItsKeysChange) {
  StartAgents(1);
  const std::string password = absl::StrCat("pw-", RandomHex(8));
  CliResult apply = cluster_.Cli(
      {"config", "apply", "-f", cluster_.WriteFile("vault.yaml", VaultYaml(password))});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();
  // The standby has parsed it, under the old key.
  cluster_.SetCliControllers(standby_.address());
  ASSERT_TRUE(WaitFor(
      [&] {
        CliResult list = cluster_.Cli({"pipeline", "list"});
        return list.exit_code == 0 && absl::StrContains(list.out, "vault");
      },
      absl::Seconds(10), kCliPoll))
      << Tails();
  cluster_.SetCliControllers(both_);
  CliResult rotate = cluster_.Cli({"secret", "rotate-key"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.ToString() << Tails();

  // The rotated file (new key, then old), then the new key alone.
  const std::string key_file = standby_.dir() + "/cipher.key";
  const std::string rotated = ReadOrEmpty(cluster_.data_dir() + "/cipher.key");
  ASSERT_TRUE(WriteFileAtomic(key_file, rotated, 0600).ok());
  ASSERT_TRUE(WaitFor([&] { return KeyFileChanges() == 1; }, absl::Seconds(30))) << standby_.Log();
  ASSERT_TRUE(WriteFileAtomic(key_file, rotated.substr(0, rotated.find('\n') + 1), 0600).ok());
  ASSERT_TRUE(WaitFor([&] { return KeyFileChanges() == 2; }, absl::Seconds(30))) << standby_.Log();
  TakeOverAndCheckVault(password);
}

}  // namespace
}  // namespace gantry::e2e
