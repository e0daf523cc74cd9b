// End-to-end test harness: runs the real gantry-controller, gantry-agent and
// gantry binaries against a real PostgreSQL, like Mesos' StartMaster() /
// StartSlave().
//
// Binaries come from $GANTRY_BIN_DIR (set by ctest), else from the directory
// of the running test executable. Each Cluster owns a temp directory:
//
//   /tmp/gantry-e2e-<test>-XXXXXX/
//   |-- controller/        the controller's --data-dir (controller.addr,
//   |                      admin.token, agent-register.key, ...)
//   |-- agents/<name>/     each agent's --work-dir
//   |-- logs/              controller.log, agent-<name>.log, cli.log
//   `-- ...                files written with WriteFile()
//
// The controller uses a fresh database in the process-wide SharedPostgres()
// (--database-url), never an embedded cluster of its own. On destruction the
// Cluster kills its processes and removes the directory; if the test failed
// it keeps the directory and prints its path and the tails of all logs.
//
// Processes are started with kill_on_parent_death, so they die with the
// thread that started them: start them from the test's main thread.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/process.h"
#include "common/testing/wait_for.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "gantry/v1/operator.pb.h"
#include "grpcpp/security/credentials.h"

namespace gantry::e2e {

// Where the gantry binaries are: $GANTRY_BIN_DIR, else the directory of this
// executable. Read on every call.
std::string BinDir();

// One PostgreSQL per test process, started on first use (in a temp dir,
// cloned from a cached template cluster in /tmp so it takes about a second),
// stopped and removed at exit. Non-durable: fsync is off. A failure to start
// is remembered and returned by every later call.
absl::StatusOr<EmbeddedPostgres*> SharedPostgres();

// The options SharedPostgres() starts its server in `dir` with.
EmbeddedPostgresOptions SharedPostgresOptions(const std::string& dir);

// Stops the shared PostgreSQL servers of test processes that died without
// stopping theirs (a crash, a ctest timeout) and removes their directories:
// `parent`/gantry-e2e-pg-*/ whose owner.pid nobody holds locked (its owner
// keeps it flock'ed while alive). SharedPostgres() runs it on /tmp before
// starting its own.
void StopOrphanedPostgres(const std::string& parent);

// Stops / starts again the process-wide PostgreSQL of SharedPostgres(),
// under every Cluster of this process (each gtest case runs in a process of
// its own under ctest). StartSharedPostgres stops it first if it runs (a
// restart), and serves on the same socket, so database URLs stay valid.
absl::Status StopSharedPostgres();
absl::Status StartSharedPostgres();

// A job's `tasks:` (at indent 14, under a job at indent 12) of one task
// running `script` with `/bin/sh -c`, its lines as a YAML block at indent 24.
std::string ShellTasksYaml(const std::string& script);

// Parses protobuf JSON (the CLI's `-o json`), ignoring unknown fields.
bool ParseJson(const std::string& json, google::protobuf::Message* message);

// Suites wait with WaitFor (common/testing/wait_for.h). A condition that
// runs the CLI starts a process per check: poll it every kCliPoll.
inline constexpr absl::Duration kCliPoll = absl::Milliseconds(50);

struct CliResult {
  int exit_code = -1;  // -1: did not run, timed out or was killed
  std::string out;
  std::string err;
  // "exit 1; stdout: ...; stderr: ..." for assertion messages.
  std::string ToString() const;
};

struct AgentOptions {
  std::string name;  // "" = "agent-<index>"
  std::vector<std::string> resources;
  std::vector<std::string> environments;
  std::vector<std::string> extra_args;
  std::string register_key_file;  // "" = the controller's agent-register.key
  // Where the agent dials, e.g. a proxy in front of the controller; "" =
  // the controller's own address.
  std::string controller_addr;
};

class Cluster {
 public:
  // `test_name` names the temp dir and database; "" = the current gtest's
  // name. Creates the database; a failure is reported as a test failure and
  // by StartController.
  explicit Cluster(const std::string& test_name = "");
  ~Cluster();

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts gantry-controller (on 127.0.0.1:0 the first time, on the same
  // port on later starts, so agents find it again) and waits up to 30 s for
  // it to write controller.addr. `extra_args` are remembered for restarts.
  absl::Status StartController(std::vector<std::string> extra_args = {});
  // Later starts run the controller on its own embedded PostgreSQL (under
  // its data dir, initdb on first start) instead of the shared server.
  void UseEmbeddedDatabase() { embedded_database_ = true; }
  // Sends `sig` to the controller's process group. For SIGKILL, SIGTERM,
  // SIGINT and SIGQUIT also waits for it to exit (SIGKILL after 30 s) and
  // returns how it ended; other signals (SIGSTOP...) return at once.
  ExitStatus KillController(int sig = SIGKILL);
  // Stops the controller if it runs (SIGTERM), then starts it again with the
  // same arguments and port.
  absl::Status RestartController();
  bool ControllerRunning();

  std::string controller_addr() const { return controller_addr_; }
  // From now on Cli() gives `--controller addresses` (e.g. "A,B", two
  // controllers) instead of the controller's own address; "" undoes it.
  void SetCliControllers(std::string addresses) { cli_controllers_ = std::move(addresses); }
  std::string data_dir() const { return dir_ + "/controller"; }  // controller's
  const std::string& dir() const { return dir_; }                // the test's temp dir
  const std::string& database() const { return database_; }
  std::string database_url() const;
  // Later starts give the controller this --database-url instead (e.g. a
  // proxy in front of the shared PostgreSQL); "" undoes it.
  void SetControllerDatabaseUrl(std::string url) { controller_database_url_ = std::move(url); }
  std::string admin_token_file() const { return data_dir() + "/admin.token"; }
  std::string register_key_file() const { return data_dir() + "/agent-register.key"; }
  // The CA the controller made on its first start (TLS is on unless the
  // controller was started with --insecure); agents and the CLI are given it.
  std::string ca_file() const { return data_dir() + "/tls/ca.crt"; }
  bool insecure() const;
  // Credentials for a test's own gRPC channel to the controller: TLS with
  // ca_file(), or plaintext when the controller runs --insecure.
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;

  // Starts a gantry-agent against the running controller; returns its index.
  absl::StatusOr<int> StartAgent(const AgentOptions& options = {});
  // Like KillController, for agent `index`.
  ExitStatus KillAgent(int index, int sig = SIGKILL);
  // Stops agent `index` if it runs (SIGKILL), then starts it again with the
  // same options and work dir.
  absl::Status RestartAgent(int index);
  bool AgentRunning(int index);
  std::string agent_name(int index) const;
  std::string agent_work_dir(int index) const;
  int agent_count() const { return static_cast<int>(agents_.size()); }

  // Runs `$BIN/gantry --controller ADDR --token-file DIR/admin.token
  // --ca-file DIR/tls/ca.crt args...` (without the admin's token when `args`
  // hold --token or --token-file; --insecure instead of the CA when the
  // controller runs --insecure, neither when `args` hold either)
  // and waits for it (up to `timeout`). A missing binary gives exit_code 127
  // and the reason on err. Every call is logged to logs/cli.log.
  CliResult Cli(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(120),
                const std::string& stdin_data = "");

  // Writes `content` to dir()/relative_path (making directories); returns
  // the absolute path. A failure is reported as a test failure.
  std::string WriteFile(const std::string& relative_path, const std::string& content);

  std::string ControllerLog() const;
  std::string AgentLog(int index) const;
  std::string CliLog() const;
  // Tails of every log, for assertion messages.
  std::string LogTails(size_t lines = 40) const;

  // --- Operator API through the CLI (`-o json`), for assertions.

  // Writes `yaml` to dir()/`relative_path` and runs `gantry config apply`.
  absl::Status ApplyConfig(const std::string& yaml,
                           const std::string& relative_path = "config/pipelines.gocd.yaml");
  // `gantry -o json pipeline show LOCATOR`.
  absl::StatusOr<v1::PipelineRun> ShowRun(const std::string& locator);
  // `gantry -o json agent list`.
  absl::StatusOr<std::vector<v1::Agent>> ListAgents();
  // The agent's entry in ListAgents() (NOT_FOUND if absent).
  absl::StatusOr<v1::Agent> FindAgent(const std::string& name);
  // Waits until every agent started here is connected and idle.
  bool WaitForIdleAgents(absl::Duration deadline = absl::Seconds(30));
  // Polls ShowRun(locator) until its state is `state`; gives up (false) as
  // soon as the run ends in another state (passed, failed, cancelled).
  bool WaitForRunState(const std::string& locator, const std::string& state,
                       absl::Duration deadline = absl::Seconds(60));
  // `gantry job log LOCATOR --follow`: the newest attempt's whole log, once
  // it is complete.
  absl::StatusOr<std::string> JobLog(const std::string& locator,
                                     absl::Duration timeout = absl::Seconds(60));
  // Index of the agent called `name`, or -1.
  int AgentIndex(const std::string& name) const;

  // Where jobs' tasks record their pids (one file per task, holding `$$`):
  // the destructor SIGKILLs those process groups, so tasks that outlive a
  // killed agent (they run in process groups of their own) do not linger.
  std::string task_pid_dir() const { return dir_ + "/task-pids"; }

  // Keep the temp dir even when the test passes (so does $GANTRY_E2E_KEEP=1).
  void KeepDir() { keep_dir_ = true; }

 private:
  struct Agent {
    AgentOptions options;
    std::string name;
    std::unique_ptr<ChildProcess> process;
  };

  // Starts gantry-controller with controller_args_ on controller_port_.
  absl::Status SpawnController();
  // Waits for the controller to write `addr_file` and records the address.
  absl::Status AwaitControllerAddress(const std::string& addr_file);
  absl::Status SpawnAgent(Agent& agent);
  ExitStatus KillProcess(std::unique_ptr<ChildProcess>& process, int sig);
  std::string LogPath(const std::string& name) const;
  void AppendToLog(const std::string& name, const std::string& text) const;
  void KillRecordedTasks();

  std::string test_name_;
  std::string dir_;
  std::string database_;
  std::string socket_conninfo_;  // the database's URL in SharedPostgres
  absl::Status init_status_;
  std::vector<std::string> controller_args_;
  std::unique_ptr<ChildProcess> controller_;
  bool embedded_database_ = false;
  std::string controller_addr_;
  std::string cli_controllers_;
  std::string controller_database_url_;
  int controller_port_ = 0;
  std::vector<Agent> agents_;
  bool keep_dir_ = false;
};

}  // namespace gantry::e2e
