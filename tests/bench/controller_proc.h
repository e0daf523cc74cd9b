// The controller under test: a real `gantry-controller --data-dir DIR`
// child process on its own embedded PostgreSQL (durable: fsync on), plus
// what the bench reads about it (/proc figures, PostgreSQL statistics).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/process/process.h"
#include "grpcpp/security/credentials.h"

namespace gantry::bench {

struct ControllerOptions {
  std::string binary;    // path of gantry-controller
  std::string data_dir;  // created if missing
  std::string log_level = "info";
  double heartbeat_interval_s = 5;
  double agent_lost_timeout_s = 30;
  std::vector<std::string> extra_args;
};

class Controller {
 public:
  explicit Controller(ControllerOptions options);
  ~Controller();  // SIGTERM, then SIGKILL

  // Starts the process and waits (up to `timeout`) until it serves: it has
  // written DIR/controller.addr. The first start listens on 127.0.0.1:0;
  // later starts reuse that port so agents find it again.
  absl::Status Start(absl::Duration timeout = absl::Seconds(180));
  // SIGTERM and wait (the controller stops its PostgreSQL too).
  absl::Status Stop(absl::Duration timeout = absl::Seconds(60));

  const std::string& address() const { return address_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& register_key() const { return register_key_; }
  const std::string& data_dir() const { return options_.data_dir; }
  std::string log_path() const { return options_.data_dir + "/controller.log"; }
  pid_t pid() const;
  bool running();

  // From /proc/PID/status, in KiB: VmRSS and VmHWM (peak).
  int64_t RssKiB() const;
  int64_t PeakRssKiB() const;
  // Resets the peak (VmHWM) to the current RSS (/proc/PID/clear_refs).
  void ResetPeakRss() const;
  // user + system CPU seconds of the controller process.
  double CpuSeconds() const;
  // The cluster's postmaster, then its children (backends, checkpointer,
  // WAL writer, ...); empty if it is not running.
  std::vector<pid_t> PostgresPids() const;
  // user + system CPU seconds of the cluster's postmaster and its children.
  double PostgresCpuSeconds() const;
  int Threads() const;

  // libpq connection string of the embedded cluster (DIR/pg.conninfo).
  absl::StatusOr<std::string> ConnInfo() const;

 private:
  ControllerOptions options_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
  std::string address_;
  std::string admin_token_;
  std::string register_key_;
};

// Credentials for channels to the controller started last: TLS with the CA
// it made under its data dir, or plaintext when it runs --insecure.
std::shared_ptr<grpc::ChannelCredentials> ControllerCredentials();

// Reads a field like "VmRSS:" from /proc/PID/status, in KiB (0 if absent).
int64_t ProcStatusKiB(pid_t pid, const std::string& field);
// utime + stime of PID in seconds (0 if gone).
double ProcCpuSeconds(pid_t pid);

}  // namespace gantry::bench
