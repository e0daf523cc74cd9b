// A private PostgreSQL cluster for `gantry-controller --data-dir DIR` without
// --database-url (docs/operations.md, "Embedded PostgreSQL"), also used by
// tests.
//
// On-disk layout (CLUSTER_ROOT is DIR itself, or a relocated directory when
// the PostgreSQL user cannot reach DIR):
//
//   DIR/
//   |-- pg.location        CLUSTER_ROOT, only when relocated
//   |-- pg.conninfo        libpq connection string of the running cluster
//   CLUSTER_ROOT/
//   |-- pg/                the cluster (PGDATA), owned by the PostgreSQL user
//   |-- pg.log             the server's log (pg_ctl -l)
//   |-- pg-run/            Unix socket directory; when its socket path would
//                          exceed 107 bytes, /tmp/gantry-pg-<sha256(root)[:12]>
//                          is used instead
//
// The server listens on the Unix socket only (listen_addresses = ''), with
// trust authentication for the superuser `postgres`. Every cluster uses the
// same port number (5432 by default): with no TCP listener only the socket
// directory tells clusters apart.
//
// PostgreSQL refuses to run as root: when this process is root, initdb,
// pg_ctl and the server run as `run_as_user` and the cluster directories are
// chowned to that user. That user needs search permission on every ancestor
// of DIR; if it lacks it, the cluster is placed under
// `relocation_root/<sha256(DIR)[:16]>/` instead and DIR/pg.location records
// that (a later start reads it back).
//
// A server left running by a previous owner (a controller killed with -9) is
// adopted: Start connects to it instead of starting another. A stale
// postmaster.pid (dead pid, or a pid reused by an unrelated process) is
// cleared or left to pg_ctl, never waited on.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/process/process.h"

namespace gantry {

struct UserInfo;

struct EmbeddedPostgresOptions {
  std::string data_dir;                  // the cluster lives in data_dir/pg
  std::string run_as_user = "postgres";  // used only when we are root
  // "" = find initdb/pg_ctl/postgres on PATH, else the newest
  // /usr/lib/postgresql/*/bin.
  std::string bin_dir;
  std::string database = "gantry";  // created by Start if missing
  int port = 5432;
  // Where clusters go when run_as_user cannot reach data_dir.
  std::string relocation_root = "/var/lib/gantry/pg";
  // How long starting (or an adopted server's recovery) may take.
  absl::Duration start_timeout = absl::Seconds(60);

  // Tests only: trade durability for speed (initdb --no-sync; fsync,
  // synchronous_commit and full_page_writes off). Never for real data.
  bool durable = true;
  // Tests only: new clusters are copied from an initdb'd template kept in
  // this directory (made on first use, shared by concurrent processes under
  // a lock) instead of running initdb, which takes seconds. The directory
  // must be private to the user PostgreSQL runs as.
  std::string template_dir;
};

class EmbeddedPostgres {
 public:
  // Initializes the cluster on first use, then starts it, or adopts a server
  // already running on it; creates options.database. Errors name the command
  // that failed and carry the tail of its output and of the server log.
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> Start(EmbeddedPostgresOptions options);

  // Stops the server unless Detach() was called.
  ~EmbeddedPostgres();

  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // libpq keyword/value string: "host=SOCKDIR port=P user=postgres dbname=D".
  std::string ConnectionString(const std::string& database) const;
  std::string ConnectionString() const;  // for options.database
  // The same as a URI: "postgresql://postgres@/D?host=SOCKDIR&port=P".
  std::string ConnectionUri(const std::string& database) const;

  // Creates database `name` if it does not exist.
  absl::Status CreateDatabase(const std::string& name);
  // Drops database `name` if it exists, disconnecting its sessions.
  absl::Status DropDatabase(const std::string& name);

  // pg_ctl stop -m fast -w (escalating to -m immediate). Idempotent.
  absl::Status Stop();
  // Stop, then start again on the same socket and port.
  absl::Status Restart();
  // Forget the server without stopping it, as a crashed owner would; the
  // destructor then leaves it running. For tests of adoption.
  void Detach();

  // --- supervision (embedded_postgres_recover.cc)
  // The postmaster's pid from postmaster.pid, if that process is alive.
  std::optional<pid_t> PostmasterPid() const;
  // Whether this object started or adopted the server and has not stopped
  // it: only then is a dead postmaster ours to restart.
  bool Owned();
  // Starts the server again after its postmaster died (PostgreSQL runs crash
  // recovery), retrying while the dead postmaster's backends still hold its
  // shared memory, up to `deadline`. A server someone else started meanwhile
  // is adopted instead.
  absl::Status Recover(absl::Duration deadline);

  bool adopted() const { return adopted_; }  // Start found it running
  bool relocated() const { return relocated_; }
  const std::string& cluster_dir() const { return cluster_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  int port() const { return port_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& bin_dir() const { return bin_dir_; }
  static constexpr char kSuperuser[] = "postgres";

 private:
  EmbeddedPostgres() = default;

  absl::Status Init();
  // as_root_, and the uid/gid the cluster belongs to.
  absl::Status ChooseClusterOwner();
  absl::Status ChooseClusterRoot();
  // The root recorded in DIR/pg.location by an earlier relocation.
  absl::Status UseRecordedClusterRoot(const std::string& location_file);
  // Places the cluster under options_.relocation_root because `user`
  // cannot reach data_dir_ (`unreachable` says why), and records it.
  absl::Status RelocateClusterRoot(const UserInfo& user, const absl::Status& unreachable,
                                   const std::string& location_file);
  absl::Status PrepareDirectories();
  absl::Status InitCluster();
  // Fills the empty `scratch` with a new cluster (initdb or the template).
  absl::Status PopulateCluster(const std::string& scratch);
  // Appends our settings to scratch/postgresql.conf.
  absl::Status AppendServerConfig(const std::string& scratch);
  // initdb into the empty directory `dir`.
  absl::Status RunInitdb(const std::string& dir);
  // options_.template_dir/<hash of bin_dir_>: holds pg/, the template.
  std::string TemplateRoot() const;
  // Makes TemplateRoot()/pg if missing.
  absl::Status EnsureTemplate();
  // Adopts a running server (true), clears a stale postmaster.pid (false).
  absl::StatusOr<bool> AdoptIfRunning();
  // Waits for a postmaster that was stopping to be gone.
  absl::Status WaitForStoppingPostmaster(pid_t pid, const std::string& real_dir);
  absl::Status StartOrAdopt();
  absl::Status StartServer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WaitUntilAccepting(absl::Duration timeout);
  // Runs one of initdb/pg_ctl as the cluster's user.
  absl::StatusOr<RunResult> RunTool(const std::string& tool, const std::vector<std::string>& args,
                                    absl::Duration timeout);
  std::string ToolError(const std::vector<std::string>& argv, const RunResult& result) const;
  std::string LogTail() const;

  EmbeddedPostgresOptions options_;
  std::string data_dir_;      // absolute
  std::string cluster_root_;  // data_dir_ or the relocated directory
  std::string cluster_dir_;   // cluster_root_/pg
  std::string socket_dir_;
  std::string log_path_;
  std::string bin_dir_;
  int port_ = 5432;
  bool as_root_ = false;  // tools run as options_.run_as_user
  unsigned uid_ = 0;      // the cluster's owner
  unsigned gid_ = 0;
  bool adopted_ = false;
  bool relocated_ = false;

  absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gantry
