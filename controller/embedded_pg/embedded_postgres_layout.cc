// Where the cluster lives (DIR, or a relocated root its user can reach),
// its directories and socket, and how a new one is made: initdb, or a copy
// of a template for tests.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/user.h"
#include "common/status_macros.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/embedded_pg/pg_host.h"

namespace gantry {
namespace {

namespace fs = std::filesystem;

using embedded_pg::CheckReachable;
using embedded_pg::ErrnoText;
using embedded_pg::MakeDirsWithMode;
using embedded_pg::Tail;

constexpr char kLocationFile[] = "pg.location";
// sizeof(sockaddr_un::sun_path) - 1.
constexpr size_t kMaxSocketPath = 107;

// postgresql.conf quoting.
std::string ConfString(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace

absl::Status EmbeddedPostgres::ChooseClusterRoot() {
  const std::string location_file = data_dir_ + "/" + kLocationFile;
  if (FileExists(location_file)) return UseRecordedClusterRoot(location_file);
  cluster_root_ = data_dir_;
  if (!as_root_) return absl::OkStatus();

  ASSIGN_OR_RETURN(UserInfo user, LookupUser(options_.run_as_user));
  absl::Status reachable = CheckReachable(data_dir_, user);
  if (reachable.ok()) return absl::OkStatus();
  if (FileExists(data_dir_ + "/pg/PG_VERSION")) {
    return absl::FailedPreconditionError(
        absl::StrCat("the PostgreSQL cluster in ", data_dir_,
                     "/pg is no longer reachable: ", reachable.message(),
                     ". Give that user search permission on the "
                     "directory named (chmod o+x), or move the data dir"));
  }
  return RelocateClusterRoot(user, reachable, location_file);
}

absl::Status EmbeddedPostgres::UseRecordedClusterRoot(const std::string& location_file) {
  ASSIGN_OR_RETURN(std::string location, ReadFile(location_file));
  cluster_root_ = std::string(absl::StripAsciiWhitespace(location));
  if (cluster_root_.empty() || cluster_root_[0] != '/') {
    return absl::FailedPreconditionError(absl::StrCat(
        location_file, " should hold an absolute directory, holds '", cluster_root_, "'"));
  }
  relocated_ = cluster_root_ != data_dir_;
  RETURN_IF_ERROR(MakeDirsWithMode(cluster_root_, 0755));
  if (as_root_ && relocated_ && ::chown(cluster_root_.c_str(), uid_, gid_) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("chown ", cluster_root_, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::RelocateClusterRoot(const UserInfo& user,
                                                   const absl::Status& unreachable,
                                                   const std::string& location_file) {
  std::string relocated =
      absl::StrCat(options_.relocation_root, "/", Sha256Hex(data_dir_).substr(0, 16));
  absl::Status made = MakeDirsWithMode(relocated, 0755);
  if (made.ok() && ::chown(relocated.c_str(), uid_, gid_) != 0) {
    made = absl::FailedPreconditionError(absl::StrCat("chown ", relocated, ": ", ErrnoText(errno)));
  }
  if (made.ok()) made = CheckReachable(relocated, user);
  if (!made.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL runs as user '", user.name, "', which cannot reach data dir ",
                     data_dir_, ": ", unreachable.message(), "; placing the cluster in ", relocated,
                     " instead failed too: ", made.message(),
                     ". Fix one of: use a --data-dir that user can reach (e.g. under "
                     "/var/lib/gantry), grant it search permission on the directory named "
                     "above (chmod o+x), let root create ",
                     options_.relocation_root, ", or use --database-url"));
  }
  cluster_root_ = relocated;
  relocated_ = true;
  RETURN_IF_ERROR(WriteFileAtomic(location_file, cluster_root_ + "\n", 0644));
  spdlog::warn(
      "embedded PostgreSQL: user '{}' cannot reach {} ({}); the cluster lives "
      "in {} instead (recorded in {})",
      user.name, data_dir_, std::string(unreachable.message()), cluster_root_, location_file);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::PrepareDirectories() {
  cluster_dir_ = cluster_root_ + "/pg";
  log_path_ = cluster_root_ + "/pg.log";
  socket_dir_ = cluster_root_ + "/pg-run";
  std::string socket_path = absl::StrCat(socket_dir_, "/.s.PGSQL.", port_);
  bool in_tmp = false;
  if (socket_path.size() > kMaxSocketPath) {
    std::string short_dir = absl::StrCat("/tmp/gantry-pg-", Sha256Hex(cluster_root_).substr(0, 12));
    spdlog::info(
        "embedded PostgreSQL: socket path {} is longer than {} bytes; using "
        "socket dir {}",
        socket_path, kMaxSocketPath, short_dir);
    socket_dir_ = short_dir;
    in_tmp = true;
  }

  // The socket dir: ours, private (root bypasses the mode).
  if (::mkdir(socket_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create socket dir ", socket_dir_, ": ", ErrnoText(errno)));
  }
  struct stat st;
  if (::lstat(socket_dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket dir ", socket_dir_, " is not a directory; remove it"));
  }
  if (st.st_uid != uid_) {
    if (!as_root_ || (in_tmp && st.st_uid != 0)) {
      return absl::FailedPreconditionError(
          absl::StrCat("socket dir ", socket_dir_, " belongs to uid ", st.st_uid,
                       ", not to the PostgreSQL user (uid ", uid_, "); remove it"));
    }
    if (::chown(socket_dir_.c_str(), uid_, gid_) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("chown ", socket_dir_, ": ", ErrnoText(errno)));
    }
  }
  ::chmod(socket_dir_.c_str(), 0700);

  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", log_path_, ": ", ErrnoText(errno)));
  }
  int rc = as_root_ ? ::fchown(fd, uid_, gid_) : 0;
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat("chown ", log_path_, ": ", ErrnoText(err)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::InitCluster() {
  std::error_code ec;
  if (fs::exists(cluster_dir_, ec)) {
    if (!fs::is_empty(cluster_dir_, ec) || !fs::remove(cluster_dir_, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat(cluster_dir_,
                       " exists but holds no PostgreSQL cluster (no "
                       "PG_VERSION); move it away or remove it"));
    }
  }
  // initdb into a scratch directory renamed into place when complete, so a
  // crash during initdb never leaves a half-made cluster at cluster_dir_.
  const std::string scratch = cluster_root_ + "/pg.initdb";
  fs::remove_all(scratch, ec);
  if (::mkdir(scratch.c_str(), 0700) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", scratch, ": ", ErrnoText(errno)));
  }
  if (as_root_ && ::chown(scratch.c_str(), uid_, gid_) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("chown ", scratch, ": ", ErrnoText(errno)));
  }
  RETURN_IF_ERROR(PopulateCluster(scratch));
  RETURN_IF_ERROR(AppendServerConfig(scratch));
  if (::rename(scratch.c_str(), cluster_dir_.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", scratch, " to ", cluster_dir_, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::PopulateCluster(const std::string& scratch) {
  std::error_code ec;
  if (options_.template_dir.empty()) {
    spdlog::info("embedded PostgreSQL: initdb {}", cluster_dir_);
    absl::Status made = RunInitdb(scratch);
    if (!made.ok()) {
      fs::remove_all(scratch, ec);
      return made;
    }
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(EnsureTemplate());
  std::vector<std::string> argv = {"cp", "-a", TemplateRoot() + "/pg/.", scratch + "/"};
  RunOptions opts;
  if (as_root_) opts.run_as_user = options_.run_as_user;
  opts.working_dir = cluster_root_;
  ASSIGN_OR_RETURN(RunResult r, RunCommand(argv, opts));
  if (!r.success()) {
    fs::remove_all(scratch, ec);
    return absl::InternalError(
        absl::StrCat("`", CommandLineString(argv), "` ", r.Describe(), ": ", Tail(r.err)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::AppendServerConfig(const std::string& scratch) {
  std::string conf = absl::StrCat(
      "\n# Set by gantry's embedded PostgreSQL.\n"
      "listen_addresses = ''\n"
      "port = ",
      port_, "\n", "unix_socket_directories = ", ConfString(socket_dir_), "\n",
      "unix_socket_permissions = 0777\n"
      "max_connections = 200\n"
      "shared_buffers = 128MB\n"
      "logging_collector = off\n"
      "log_line_prefix = '%m [%p] '\n"
      "log_timezone = 'UTC'\n"
      "timezone = 'UTC'\n",
      options_.durable ? "fsync = on\n"
                       : "# Tests only: not crash-safe.\n"
                         "fsync = off\n"
                         "synchronous_commit = off\n"
                         "full_page_writes = off\n");
  {
    std::ofstream out(scratch + "/postgresql.conf", std::ios::app);
    out << conf;
    out.flush();
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot append to ", scratch, "/postgresql.conf"));
    }
  }
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::RunInitdb(const std::string& dir) {
  std::vector<std::string> args = {"-D",    dir,  "-U",   kSuperuser,   "-A",
                                   "trust", "-E", "UTF8", "--no-locale"};
  if (!options_.durable) args.push_back("--no-sync");
  ASSIGN_OR_RETURN(RunResult r, RunTool("initdb", args, absl::Minutes(5)));
  if (r.success()) return absl::OkStatus();
  std::vector<std::string> argv = {bin_dir_ + "/initdb"};
  argv.insert(argv.end(), args.begin(), args.end());
  return absl::InternalError(ToolError(argv, r));
}

std::string EmbeddedPostgres::TemplateRoot() const {
  return absl::StrCat(options_.template_dir, "/", Sha256Hex(bin_dir_).substr(0, 12));
}

absl::Status EmbeddedPostgres::EnsureTemplate() {
  // One template per server installation.
  const std::string root = TemplateRoot();
  RETURN_IF_ERROR(MakeDirsWithMode(root, 0755));
  const std::string lock_path = root + "/lock";
  int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", lock_path, ": ", ErrnoText(errno)));
  }
  // Concurrent test processes: one runs initdb, the others wait for it.
  while (::flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  absl::Status status = absl::OkStatus();
  const std::string pg = root + "/pg";
  if (!FileExists(pg + "/PG_VERSION")) {
    const std::string scratch = root + "/pg.initdb";
    std::error_code ec;
    fs::remove_all(scratch, ec);
    if (::mkdir(scratch.c_str(), 0700) != 0 ||
        (as_root_ && ::chown(scratch.c_str(), uid_, gid_) != 0)) {
      status = absl::FailedPreconditionError(
          absl::StrCat("cannot create ", scratch, ": ", ErrnoText(errno)));
    }
    if (status.ok()) {
      spdlog::info("embedded PostgreSQL: initdb template {}", pg);
      status = RunInitdb(scratch);
    }
    if (status.ok() && ::rename(scratch.c_str(), pg.c_str()) != 0) {
      status =
          absl::InternalError(absl::StrCat("rename ", scratch, " to ", pg, ": ", ErrnoText(errno)));
    }
    if (!status.ok()) fs::remove_all(scratch, ec);
  }
  ::close(lock);  // releases the lock
  return status;
}

}  // namespace gantry
