// Cluster: one test's controller, agents and CLI as real processes, its temp
// directory and logs. The shared PostgreSQL is shared_postgres.cc; the
// operator API for assertions, cluster_api.cc.
#include "tests/e2e/harness.h"

#include <algorithm>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/tls/client_tls.h"
#include "tests/e2e/harness_files.h"

namespace gantry::e2e {
namespace {

namespace fs = std::filesystem;

constexpr absl::Duration kStartDeadline = absl::Seconds(30);
constexpr absl::Duration kStopDeadline = absl::Seconds(30);

// Letters, digits, '-' and '_' only; at most `max` characters.
std::string Sanitize(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  }
  return out.empty() ? "test" : out;
}

std::string CurrentTestName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "e2e";
  return absl::StrCat(info->test_suite_name(), ".", info->name());
}

bool Holds(const std::vector<std::string>& args, std::initializer_list<const char*> flags) {
  return std::any_of(args.begin(), args.end(), [&](const std::string& a) {
    for (const char* f : flags) {
      if (a == f) return true;
    }
    return false;
  });
}

bool WaitsForExit(int sig) {
  return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

std::atomic<int> cluster_counter{0};

}  // namespace

std::string BinDir() {
  const char* env = ::getenv("GANTRY_BIN_DIR");
  if (env != nullptr && *env != '\0') return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

// ---------------------------------------------------------------------------
// Cluster

Cluster::Cluster(const std::string& test_name)
    : test_name_(test_name.empty() ? CurrentTestName() : test_name) {
  absl::StatusOr<std::string> dir =
      MakeTempDir(absl::StrCat("gantry-e2e-", Sanitize(test_name_, 40)));
  if (!dir.ok()) {
    init_status_ = dir.status();
    ADD_FAILURE() << init_status_;
    return;
  }
  dir_ = *dir;
  for (const char* sub : {"/controller", "/agents", "/logs", "/task-pids"}) {
    init_status_.Update(MakeDirs(dir_ + sub));
  }

  std::string lower;
  for (char c : Sanitize(test_name_, 40)) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  database_ = absl::StrCat("e2e_", lower, "_", ++cluster_counter);
  absl::StatusOr<EmbeddedPostgres*> pg = SharedPostgres();
  if (!pg.ok()) {
    init_status_.Update(pg.status());
  } else {
    init_status_.Update((*pg)->CreateDatabase(database_));
    socket_conninfo_ = (*pg)->ConnectionUri(database_);
  }
  if (!init_status_.ok()) ADD_FAILURE() << "e2e Cluster: " << init_status_;
}

Cluster::~Cluster() {
  // Agents first, so they do not spend the controller's last moments
  // reconnecting.
  for (Agent& agent : agents_) KillProcess(agent.process, SIGKILL);
  KillProcess(controller_, SIGKILL);
  KillRecordedTasks();

  bool failed = ::testing::Test::HasFailure();
  if (!failed && !database_.empty()) {
    absl::StatusOr<EmbeddedPostgres*> pg = SharedPostgres();
    if (pg.ok()) {
      absl::Status s = (*pg)->DropDatabase(database_);
      if (!s.ok()) std::cerr << "e2e: " << s << "\n";
    }
  }
  if (dir_.empty()) return;
  const char* keep_env = ::getenv("GANTRY_E2E_KEEP");
  if (keep_env != nullptr && *keep_env != '\0' && std::string(keep_env) != "0") {
    keep_dir_ = true;
  }
  if (failed || keep_dir_) {
    std::cerr << "\n=== e2e " << test_name_ << (failed ? " FAILED" : "") << ": kept " << dir_
              << " (database " << database_ << ")\n";
    if (failed) std::cerr << LogTails(60) << "\n";
    return;
  }
  RemoveTree(dir_);
}

std::string ShellTasksYaml(const std::string& script) {
  std::string out =
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - |\n";
  for (absl::string_view line : absl::StrSplit(script, '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, "                        ", line, "\n");
  }
  return out;
}

std::string Cluster::database_url() const { return socket_conninfo_; }

void Cluster::KillRecordedTasks() {
  if (dir_.empty()) return;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(task_pid_dir(), ec)) {
    int pid = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadOrEmpty(entry.path().string())), &pid) ||
        pid <= 1) {
      continue;
    }
    // Each task leads a process group of its own; the group outlives its
    // leader while any member (a background grandchild) lives.
    if (::kill(-pid, SIGKILL) == 0) {
      std::cerr << "e2e: killed the leftover task process group " << pid << "\n";
    }
  }
}

std::string Cluster::LogPath(const std::string& name) const {
  return absl::StrCat(dir_, "/logs/", name, ".log");
}

void Cluster::AppendToLog(const std::string& name, const std::string& text) const {
  std::ofstream out(LogPath(name), std::ios::app);
  out << text;
}

ExitStatus Cluster::KillProcess(std::unique_ptr<ChildProcess>& process, int sig) {
  if (process == nullptr) return ExitStatus{};
  if (!WaitsForExit(sig)) {
    process->Signal(sig).IgnoreError();
    return ExitStatus{};
  }
  ExitStatus status = process->Terminate(sig, kStopDeadline);
  process.reset();
  return status;
}

absl::Status Cluster::StartController(std::vector<std::string> extra_args) {
  RETURN_IF_ERROR(init_status_);
  if (controller_ != nullptr && controller_->IsRunning()) {
    return absl::FailedPreconditionError("e2e: the controller already runs");
  }
  controller_.reset();
  controller_args_ = std::move(extra_args);
  const std::string addr_file = data_dir() + "/controller.addr";
  ::unlink(addr_file.c_str());
  RETURN_IF_ERROR(SpawnController());
  return AwaitControllerAddress(addr_file);
}

absl::Status Cluster::SpawnController() {
  std::vector<std::string> argv = {BinDir() + "/gantry-controller", "--data-dir", data_dir(),
                                   "--listen", absl::StrCat("127.0.0.1:", controller_port_),
                                   "--log-level", "debug"};
  if (!embedded_database_) {
    argv.push_back("--database-url");
    argv.push_back(controller_database_url_.empty() ? database_url() : controller_database_url_);
  }
  argv.insert(argv.end(), controller_args_.begin(), controller_args_.end());
  AppendToLog("controller", absl::StrCat("=== e2e: ", CommandLineString(argv), "\n"));
  SpawnOptions options;
  options.log_path = LogPath("controller");
  options.kill_on_parent_death = true;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(argv, options);
  if (!child.ok()) {
    return absl::Status(child.status().code(), absl::StrCat("e2e: ", child.status().message()));
  }
  controller_ = std::move(*child);
  return absl::OkStatus();
}

absl::Status Cluster::AwaitControllerAddress(const std::string& addr_file) {
  std::string addr;
  bool ready = WaitFor(
      [&] {
        std::string content = ReadOrEmpty(addr_file);
        if (!absl::EndsWith(content, "\n")) {
          return !controller_->IsRunning();  // died: stop waiting
        }
        addr = std::string(absl::StripAsciiWhitespace(content));
        return true;
      },
      kStartDeadline);
  if (!controller_->IsRunning() && addr.empty()) {
    absl::StatusOr<ExitStatus> status = controller_->Wait(absl::ZeroDuration());
    controller_.reset();
    return absl::UnavailableError(
        absl::StrCat("e2e: gantry-controller ", status.ok() ? status->ToString() : "exited",
                     " before serving; log:\n", TailLines(ControllerLog(), 30)));
  }
  if (!ready || addr.empty()) {
    KillProcess(controller_, SIGKILL);
    return absl::DeadlineExceededError(absl::StrCat(
        "e2e: gantry-controller did not write ", addr_file, " within ",
        absl::FormatDuration(kStartDeadline), "; log:\n", TailLines(ControllerLog(), 30)));
  }
  int port = 0;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port <= 0) {
    return absl::InternalError(
        absl::StrCat("e2e: bad controller address '", addr, "' in ", addr_file));
  }
  controller_addr_ = addr;
  controller_port_ = port;
  return absl::OkStatus();
}

bool Cluster::insecure() const { return Holds(controller_args_, {"--insecure"}); }

std::shared_ptr<grpc::ChannelCredentials> Cluster::ChannelCredentials() const {
  tls::ClientTls tls;
  tls.insecure = insecure();
  if (!tls.insecure) tls.ca_pem = ReadOrEmpty(ca_file());
  return tls::MakeChannelCredentials(tls);
}

ExitStatus Cluster::KillController(int sig) { return KillProcess(controller_, sig); }

absl::Status Cluster::RestartController() {
  KillProcess(controller_, SIGTERM);
  return StartController(controller_args_);
}

bool Cluster::ControllerRunning() { return controller_ != nullptr && controller_->IsRunning(); }

absl::StatusOr<int> Cluster::StartAgent(const AgentOptions& options) {
  RETURN_IF_ERROR(init_status_);
  if (controller_addr_.empty()) {
    return absl::FailedPreconditionError("e2e: start the controller before agents");
  }
  Agent agent;
  agent.options = options;
  agent.name = options.name.empty() ? absl::StrCat("agent-", agents_.size()) : options.name;
  for (const Agent& other : agents_) {
    if (other.name == agent.name) {
      return absl::InvalidArgumentError(absl::StrCat("e2e: two agents named ", agent.name));
    }
  }
  RETURN_IF_ERROR(SpawnAgent(agent));
  agents_.push_back(std::move(agent));
  return static_cast<int>(agents_.size()) - 1;
}

absl::Status Cluster::SpawnAgent(Agent& agent) {
  const std::string work_dir = absl::StrCat(dir_, "/agents/", agent.name);
  RETURN_IF_ERROR(MakeDirs(work_dir));
  std::vector<std::string> argv = {BinDir() + "/gantry-agent",
                                   "--controller",
                                   agent.options.controller_addr.empty()
                                       ? controller_addr_
                                       : agent.options.controller_addr,
                                   "--work-dir",
                                   work_dir,
                                   "--register-key-file",
                                   agent.options.register_key_file.empty()
                                       ? register_key_file()
                                       : agent.options.register_key_file,
                                   "--name",
                                   agent.name,
                                   "--log-level",
                                   "debug"};
  if (!agent.options.resources.empty()) {
    argv.push_back("--resources");
    argv.push_back(absl::StrJoin(agent.options.resources, ","));
  }
  if (!agent.options.environments.empty()) {
    argv.push_back("--environments");
    argv.push_back(absl::StrJoin(agent.options.environments, ","));
  }
  // How the agent verifies the controller, unless the test says.
  if (!Holds(agent.options.extra_args, {"--ca-file", "--ca-fingerprint", "--insecure"})) {
    if (insecure()) {
      argv.push_back("--insecure");
    } else {
      argv.push_back("--ca-file");
      argv.push_back(ca_file());
    }
  }
  argv.insert(argv.end(), agent.options.extra_args.begin(), agent.options.extra_args.end());
  const std::string log = "agent-" + agent.name;
  AppendToLog(log, absl::StrCat("=== e2e: ", CommandLineString(argv), "\n"));
  SpawnOptions options;
  options.log_path = LogPath(log);
  options.kill_on_parent_death = true;
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(argv, options);
  if (!child.ok()) {
    return absl::Status(child.status().code(), absl::StrCat("e2e: ", child.status().message()));
  }
  agent.process = std::move(*child);
  return absl::OkStatus();
}

ExitStatus Cluster::KillAgent(int index, int sig) {
  if (index < 0 || index >= agent_count()) {
    ADD_FAILURE() << "e2e: no agent " << index;
    return ExitStatus{};
  }
  return KillProcess(agents_[index].process, sig);
}

absl::Status Cluster::RestartAgent(int index) {
  if (index < 0 || index >= agent_count()) {
    return absl::InvalidArgumentError(absl::StrCat("e2e: no agent ", index));
  }
  KillProcess(agents_[index].process, SIGKILL);
  return SpawnAgent(agents_[index]);
}

bool Cluster::AgentRunning(int index) {
  return index >= 0 && index < agent_count() && agents_[index].process != nullptr &&
         agents_[index].process->IsRunning();
}

std::string Cluster::agent_name(int index) const {
  return index >= 0 && index < agent_count() ? agents_[index].name : "";
}

std::string Cluster::agent_work_dir(int index) const {
  return absl::StrCat(dir_, "/agents/", agent_name(index));
}

CliResult Cluster::Cli(std::vector<std::string> args, absl::Duration timeout,
                       const std::string& stdin_data) {
  std::vector<std::string> argv = {BinDir() + "/gantry"};
  if (!cli_controllers_.empty() || !controller_addr_.empty()) {
    argv.push_back("--controller");
    argv.push_back(cli_controllers_.empty() ? controller_addr_ : cli_controllers_);
  }
  // The admin's token, unless the call names its own (a test acting as
  // another user).
  bool own_token = std::any_of(args.begin(), args.end(), [](const std::string& a) {
    return a == "--token" || a == "--token-file";
  });
  if (!own_token) {
    argv.push_back("--token-file");
    argv.push_back(admin_token_file());
  }
  if (!Holds(args, {"--ca-file", "--insecure"})) {
    if (insecure()) {
      argv.push_back("--insecure");
    } else {
      argv.push_back("--ca-file");
      argv.push_back(ca_file());
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());

  RunOptions options;
  options.timeout = timeout;
  options.stdin_data = stdin_data;
  options.working_dir = dir_;
  options.kill_on_parent_death = true;
  CliResult result;
  absl::StatusOr<RunResult> run = RunCommand(argv, options);
  if (!run.ok()) {
    result.exit_code = 127;
    result.err = absl::StrCat("e2e: ", run.status().message());
  } else {
    result.exit_code = run->term_signal == 0 && !run->timed_out ? run->exit_code : -1;
    result.out = std::move(run->out);
    result.err = std::move(run->err);
    if (run->timed_out) {
      absl::StrAppend(&result.err, "\ne2e: gantry timed out after ", absl::FormatDuration(timeout),
                      " and was killed");
    } else if (run->term_signal != 0) {
      absl::StrAppend(&result.err, "\ne2e: gantry ", run->Describe());
    }
  }
  AppendToLog("cli", absl::StrCat("$ ", CommandLineString(argv), "\n", result.out,
                                  result.err.empty() ? "" : "[stderr] ", result.err, "[exit ",
                                  result.exit_code, "]\n"));
  return result;
}

std::string Cluster::WriteFile(const std::string& relative_path, const std::string& content) {
  std::string path = absl::StrCat(dir_, "/", relative_path);
  absl::Status s = MakeDirs(fs::path(path).parent_path().string());
  if (s.ok()) s = WriteFileAtomic(path, content);
  if (!s.ok()) ADD_FAILURE() << "e2e WriteFile: " << s;
  return path;
}

int Cluster::AgentIndex(const std::string& name) const {
  for (int i = 0; i < agent_count(); ++i) {
    if (agents_[i].name == name) return i;
  }
  return -1;
}

std::string Cluster::ControllerLog() const { return ReadOrEmpty(LogPath("controller")); }

std::string Cluster::AgentLog(int index) const {
  return ReadOrEmpty(LogPath("agent-" + agent_name(index)));
}

std::string Cluster::CliLog() const { return ReadOrEmpty(LogPath("cli")); }

std::string Cluster::LogTails(size_t lines) const {
  std::string out = absl::StrCat("--- controller log (", LogPath("controller"), "), last ", lines,
                                 " lines:\n", TailLines(ControllerLog(), lines), "\n");
  for (int i = 0; i < agent_count(); ++i) {
    absl::StrAppend(&out, "--- agent ", agents_[i].name, " log, last ", lines, " lines:\n",
                    TailLines(AgentLog(i), lines), "\n");
  }
  absl::StrAppend(&out, "--- cli log, last ", lines, " lines:\n", TailLines(CliLog(), lines), "\n");
  return out;
}

}  // namespace gantry::e2e
