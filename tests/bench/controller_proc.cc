#include "tests/bench/controller_proc.h"

#include <algorithm>
#include <mutex>

#include "common/tls/client_tls.h"

#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace gantry::bench {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Fields of /proc/PID/stat after the command name: state is [0], ppid [1],
// utime [11], stime [12].
std::vector<std::string> StatFields(pid_t pid) {
  std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ');
}

}  // namespace

int64_t ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field)) {
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(field.size()), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      int64_t v = 0;
      if (!parts.empty() && absl::SimpleAtoi(parts[0], &v)) return v;
    }
  }
  return 0;
}

double ProcCpuSeconds(pid_t pid) {
  auto f = StatFields(pid);
  if (f.size() < 13) return 0;
  int64_t utime = 0, stime = 0;
  (void)absl::SimpleAtoi(f[11], &utime);
  (void)absl::SimpleAtoi(f[12], &stime);
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Controller::Controller(ControllerOptions options) : options_(std::move(options)) {}

Controller::~Controller() {
  if (!process_) return;
  if (process_->IsRunning()) {
    (void)Stop();
    return;
  }
  // It died under us: say how, with the end of its log.
  auto status = process_->Wait(absl::ZeroDuration());
  std::string log = ReadAll(log_path());
  size_t from = log.size() > 3000 ? log.size() - 3000 : 0;
  spdlog::error("gantry-controller (pid {}) had {}; the end of {}:\n{}", process_->pid(),
                status.ok() ? status->ToString() : "ended", log_path(), log.substr(from));
  // A crashed controller leaves its PostgreSQL running: stop it (fast).
  std::string root = Trim(ReadAll(options_.data_dir + "/pg.location"));
  if (root.empty()) root = options_.data_dir;
  std::string pidfile = ReadAll(root + "/pg/postmaster.pid");
  int64_t postmaster = 0;
  if (absl::SimpleAtoi(Trim(pidfile.substr(0, pidfile.find('\n'))), &postmaster) &&
      postmaster > 0) {
    ::kill(static_cast<pid_t>(postmaster), SIGINT);
  }
}

namespace {
std::mutex credentials_mu;
std::shared_ptr<grpc::ChannelCredentials> credentials;  // guarded by credentials_mu
}  // namespace

std::shared_ptr<grpc::ChannelCredentials> ControllerCredentials() {
  std::lock_guard<std::mutex> lock(credentials_mu);
  return credentials ? credentials : grpc::InsecureChannelCredentials();
}

pid_t Controller::pid() const { return process_ ? process_->pid() : 0; }

bool Controller::running() { return process_ && process_->IsRunning(); }

absl::Status Controller::Start(absl::Duration timeout) {
  if (auto st = MakeDirs(options_.data_dir); !st.ok()) return st;
  std::string addr_file = options_.data_dir + "/controller.addr";
  std::error_code ec;
  std::filesystem::remove(addr_file, ec);
  std::vector<std::string> argv = {options_.binary,
                                   "--data-dir",
                                   options_.data_dir,
                                   "--listen",
                                   absl::StrCat("127.0.0.1:", port_),
                                   "--log-level",
                                   options_.log_level,
                                   "--heartbeat-interval",
                                   absl::StrCat(options_.heartbeat_interval_s),
                                   "--agent-lost-timeout",
                                   absl::StrCat(options_.agent_lost_timeout_s),
                                   // Simulated agents share connections, so
                                   // none holds a client certificate.
                                   "--agent-token-auth"};
  for (const auto& a : options_.extra_args) argv.push_back(a);
  SpawnOptions spawn;
  spawn.log_path = log_path();
  spawn.kill_on_parent_death = false;
  auto child = ChildProcess::Spawn(argv, spawn);
  if (!child.ok()) return child.status();
  process_ = std::move(*child);
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::string addr = Trim(ReadAll(addr_file));
    if (!addr.empty()) {
      address_ = addr;
      std::string port = addr.substr(addr.rfind(':') + 1);
      (void)absl::SimpleAtoi(port, &port_);
      break;
    }
    if (!process_->IsRunning()) {
      return absl::InternalError(
          absl::StrCat("gantry-controller exited during start-up; see ", log_path()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("gantry-controller did not write ", addr_file,
                                                      " in time; see ", log_path()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    tls::ClientTls tls;
    tls.insecure = std::find(options_.extra_args.begin(), options_.extra_args.end(),
                             "--insecure") != options_.extra_args.end();
    if (!tls.insecure) tls.ca_pem = ReadAll(options_.data_dir + "/tls/ca.crt");
    std::lock_guard<std::mutex> lock(credentials_mu);
    credentials = tls::MakeChannelCredentials(tls);
  }
  admin_token_ = Trim(ReadAll(options_.data_dir + "/admin.token"));
  register_key_ = Trim(ReadAll(options_.data_dir + "/agent-register.key"));
  if (admin_token_.empty() || register_key_.empty()) {
    return absl::InternalError("the controller wrote no admin.token or agent-register.key");
  }
  return absl::OkStatus();
}

absl::Status Controller::Stop(absl::Duration timeout) {
  if (!process_) return absl::OkStatus();
  ExitStatus status = process_->Terminate(SIGTERM, timeout);
  process_.reset();
  if (status.term_signal != 0 && status.term_signal != SIGTERM) {
    return absl::InternalError(absl::StrCat("gantry-controller ", status.ToString()));
  }
  return absl::OkStatus();
}

int64_t Controller::RssKiB() const { return ProcStatusKiB(pid(), "VmRSS:"); }
int64_t Controller::PeakRssKiB() const { return ProcStatusKiB(pid(), "VmHWM:"); }
int Controller::Threads() const { return static_cast<int>(ProcStatusKiB(pid(), "Threads:")); }

void Controller::ResetPeakRss() const {
  std::ofstream out(absl::StrCat("/proc/", pid(), "/clear_refs"));
  out << "5";
}

double Controller::CpuSeconds() const { return ProcCpuSeconds(pid()); }

std::vector<pid_t> Controller::PostgresPids() const {
  // The cluster is DIR/pg unless relocated (DIR/pg.location); its
  // postmaster.pid names the postmaster, whose children are the rest.
  std::string root = Trim(ReadAll(options_.data_dir + "/pg.location"));
  if (root.empty()) root = options_.data_dir;
  std::string pidfile = ReadAll(root + "/pg/postmaster.pid");
  int64_t postmaster = 0;
  if (!absl::SimpleAtoi(Trim(pidfile.substr(0, pidfile.find('\n'))), &postmaster) ||
      postmaster <= 0) {
    return {};
  }
  std::vector<pid_t> pids = {static_cast<pid_t>(postmaster)};
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* e = readdir(dir)) {
    int64_t p = 0;
    if (!absl::SimpleAtoi(e->d_name, &p)) continue;
    auto f = StatFields(static_cast<pid_t>(p));
    int64_t ppid = 0;
    if (f.size() > 1 && absl::SimpleAtoi(f[1], &ppid) && ppid == postmaster) {
      pids.push_back(static_cast<pid_t>(p));
    }
  }
  closedir(dir);
  return pids;
}

double Controller::PostgresCpuSeconds() const {
  double total = 0;
  for (pid_t p : PostgresPids()) total += ProcCpuSeconds(p);
  return total;
}

absl::StatusOr<std::string> Controller::ConnInfo() const {
  std::string s = Trim(ReadAll(options_.data_dir + "/pg.conninfo"));
  if (s.empty()) return absl::NotFoundError("no pg.conninfo in the data dir");
  return s;
}

}  // namespace gantry::bench
