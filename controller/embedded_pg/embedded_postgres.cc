#include "controller/embedded_pg/embedded_postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/user.h"
#include "common/status_macros.h"

namespace gantry {
namespace {

namespace fs = std::filesystem;

constexpr char kLocationFile[] = "pg.location";
constexpr char kConninfoFile[] = "pg.conninfo";
// sizeof(sockaddr_un::sun_path) - 1.
constexpr size_t kMaxSocketPath = 107;

// The last `max_lines` lines of `text`, at most ~4 KB.
std::string Tail(const std::string& text, size_t max_lines = 15) {
  std::string t(absl::StripTrailingAsciiWhitespace(text));
  if (t.size() > 4000) t = t.substr(t.size() - 4000);
  size_t pos = t.size();
  for (size_t i = 0; i < max_lines && pos != std::string::npos && pos > 0;
       ++i) {
    pos = t.rfind('\n', pos - 1);
  }
  if (pos != std::string::npos && pos < t.size()) t = t.substr(pos + 1);
  return t;
}

std::string ErrnoText(int err) { return strerror(err); }

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

bool IsExecutable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

bool HasServerBinaries(const std::string& dir) {
  return IsExecutable(dir + "/initdb") && IsExecutable(dir + "/pg_ctl") &&
         IsExecutable(dir + "/postgres");
}

// "15" < "16", "9.6" < "10".
std::vector<int> VersionKey(const std::string& v) {
  std::vector<int> key;
  for (absl::string_view part : absl::StrSplit(v, '.')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n)) return {};
    key.push_back(n);
  }
  return key;
}

absl::StatusOr<std::string> FindBinDir(const std::string& configured) {
  if (!configured.empty()) {
    if (HasServerBinaries(configured)) return configured;
    return absl::FailedPreconditionError(
        absl::StrCat("PostgreSQL bin dir ", configured,
                     " does not hold executable initdb, pg_ctl and postgres"));
  }
  absl::StatusOr<std::string> pg_ctl = FindOnPath("pg_ctl");
  if (pg_ctl.ok()) {
    std::string dir = fs::path(RealPath(*pg_ctl)).parent_path().string();
    if (HasServerBinaries(dir)) return dir;
  }
  std::string best;
  std::vector<int> best_key;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::vector<int> key = VersionKey(entry.path().filename().string());
    std::string bin = entry.path().string() + "/bin";
    if (key.empty() || !HasServerBinaries(bin)) continue;
    if (best.empty() || key > best_key) {
      best = bin;
      best_key = key;
    }
  }
  if (!best.empty()) return best;
  return absl::FailedPreconditionError(
      "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found "
      "on PATH or in /usr/lib/postgresql/*/bin: install them (Debian: apt-get "
      "install postgresql) or use --database-url with an existing server");
}

// Whether `user` may search every directory from / down to `path`; if not,
// says which directory stops it.
absl::Status CheckReachable(const std::string& path, const UserInfo& user) {
  if (user.uid == 0) return absl::OkStatus();
  fs::path p(RealPath(path));
  fs::path prefix;
  for (const fs::path& part : p) {
    prefix /= part;
    struct stat st;
    if (::stat(prefix.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot stat ", prefix.string(), ": ", ErrnoText(errno)));
    }
    mode_t bit;
    if (st.st_uid == user.uid) {
      bit = S_IXUSR;
    } else if (std::find(user.groups.begin(), user.groups.end(), st.st_gid) !=
                   user.groups.end() ||
               st.st_gid == user.gid) {
      bit = S_IXGRP;
    } else {
      bit = S_IXOTH;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_mode & bit) == 0) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "user '%s' (uid %d) cannot enter %s (mode %04o, owner uid %d, gid "
          "%d)",
          user.name, user.uid, prefix.string(), st.st_mode & 07777, st.st_uid,
          st.st_gid));
    }
  }
  return absl::OkStatus();
}

// mkdir -p where every directory created gets exactly `mode`.
absl::Status MakeDirsWithMode(const std::string& path, mode_t mode) {
  fs::path prefix;
  for (const fs::path& part : fs::path(path)) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      ::chmod(prefix.c_str(), mode);  // not subject to the umask
    } else if (errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create directory ", prefix.string(), ": ", ErrnoText(errno)));
    }
  }
  return absl::OkStatus();
}

// chown -R, not following symlinks.
absl::Status ChownTree(const std::string& root, uid_t uid, gid_t gid) {
  if (::lchown(root.c_str(), uid, gid) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("chown ", root, ": ", ErrnoText(errno)));
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("chown ", it->path().string(), ": ", ErrnoText(errno)));
    }
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("chown -R ", root, ": ", ec.message()));
  }
  return absl::OkStatus();
}

// Live processes whose working directory is `dir` (a postmaster and its
// backends run in their data directory).
std::vector<pid_t> ProcessesIn(const std::string& dir) {
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (struct dirent* e = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    char buf[PATH_MAX];
    std::string link = absl::StrCat("/proc/", pid, "/cwd");
    ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
    if (n <= 0) continue;  // gone, a zombie, or not ours to see
    if (std::string(buf, n) == dir) pids.push_back(pid);
  }
  ::closedir(proc);
  return pids;
}

enum class PidOwner {
  kCluster,  // a live process running in the cluster directory
  kOther,    // a live process elsewhere: the pid was reused
  kGone,     // exited (or a zombie)
  kUnknown,  // cannot tell (no /proc access): assume kCluster
};

PidOwner InspectPid(pid_t pid, const std::string& dir) {
  char buf[PATH_MAX];
  std::string link = absl::StrCat("/proc/", pid, "/cwd");
  ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n > 0) {
    return std::string(buf, n) == dir ? PidOwner::kCluster : PidOwner::kOther;
  }
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) {
    return stat.status().code() == absl::StatusCode::kNotFound
               ? PidOwner::kGone
               : PidOwner::kUnknown;
  }
  size_t paren = stat->rfind(')');
  if (paren != std::string::npos && paren + 2 < stat->size() &&
      ((*stat)[paren + 2] == 'Z' || (*stat)[paren + 2] == 'X')) {
    return PidOwner::kGone;
  }
  return PidOwner::kUnknown;
}

// libpq keyword/value quoting.
std::string ConnValue(const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(" '\\\t\n") == std::string::npos;
  if (plain) return v;
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string PercentEncode(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

// postgresql.conf quoting.
std::string ConfString(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string Seconds(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::Start(
    EmbeddedPostgresOptions options) {
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres());
  pg->options_ = std::move(options);
  RETURN_IF_ERROR(pg->Init());
  return pg;
}

EmbeddedPostgres::~EmbeddedPostgres() {
  absl::MutexLock lock(&mu_);
  if (detached_ || !running_) return;
  absl::Status s = StopLocked();
  if (!s.ok()) spdlog::error("embedded PostgreSQL: {}", s.ToString());
}

absl::Status EmbeddedPostgres::Init() {
  if (options_.data_dir.empty()) {
    return absl::InvalidArgumentError("embedded PostgreSQL: no data dir given");
  }
  data_dir_ = fs::absolute(options_.data_dir).lexically_normal().string();
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  port_ = options_.port;
  RETURN_IF_ERROR(MakeDirs(data_dir_));
  ASSIGN_OR_RETURN(bin_dir_, FindBinDir(options_.bin_dir));

  as_root_ = RunningAsRoot();
  if (as_root_) {
    absl::StatusOr<UserInfo> user = LookupUser(options_.run_as_user);
    if (!user.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PostgreSQL refuses to run as root, and the user it should run as, '",
          options_.run_as_user,
          "', does not exist: create it (useradd "
          "--system ",
          options_.run_as_user,
          "), name another user, or use "
          "--database-url"));
    }
    if (user->uid == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PostgreSQL refuses to run as root: user '", options_.run_as_user,
          "' has uid 0; name an unprivileged user"));
    }
    uid_ = user->uid;
    gid_ = user->gid;
  } else {
    uid_ = ::geteuid();
    gid_ = ::getegid();
  }

  RETURN_IF_ERROR(ChooseClusterRoot());
  RETURN_IF_ERROR(PrepareDirectories());
  if (!FileExists(cluster_dir_ + "/PG_VERSION")) {
    RETURN_IF_ERROR(InitCluster());
  } else if (as_root_) {
    struct stat st;
    if (::stat(cluster_dir_.c_str(), &st) == 0 && st.st_uid != uid_) {
      spdlog::warn(
          "embedded PostgreSQL: {} belongs to uid {}, chowning it to {}",
          cluster_dir_, st.st_uid, options_.run_as_user);
      RETURN_IF_ERROR(ChownTree(cluster_dir_, uid_, gid_));
    }
  }

  ASSIGN_OR_RETURN(adopted_, AdoptIfRunning());
  {
    absl::MutexLock lock(&mu_);
    if (adopted_) {
      running_ = true;
    } else {
      RETURN_IF_ERROR(StartServer());
    }
  }
  if (adopted_) RETURN_IF_ERROR(WaitUntilAccepting(options_.start_timeout));
  RETURN_IF_ERROR(CreateDatabase(options_.database));
  RETURN_IF_ERROR(WriteFileAtomic(data_dir_ + "/" + kConninfoFile,
                                  ConnectionString() + "\n", 0600));
  spdlog::info("embedded PostgreSQL {} in {} on socket {} port {}",
               adopted_ ? "adopted" : "started", cluster_dir_, socket_dir_,
               port_);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::ChooseClusterRoot() {
  const std::string location_file = data_dir_ + "/" + kLocationFile;
  if (FileExists(location_file)) {
    ASSIGN_OR_RETURN(std::string location, ReadFile(location_file));
    cluster_root_ = std::string(absl::StripAsciiWhitespace(location));
    if (cluster_root_.empty() || cluster_root_[0] != '/') {
      return absl::FailedPreconditionError(absl::StrCat(
          location_file, " should hold an absolute directory, holds '",
          cluster_root_, "'"));
    }
    relocated_ = cluster_root_ != data_dir_;
    RETURN_IF_ERROR(MakeDirsWithMode(cluster_root_, 0755));
    if (as_root_ && relocated_ &&
        ::chown(cluster_root_.c_str(), uid_, gid_) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("chown ", cluster_root_, ": ", ErrnoText(errno)));
    }
    return absl::OkStatus();
  }
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

  std::string relocated = absl::StrCat(options_.relocation_root, "/",
                                       Sha256Hex(data_dir_).substr(0, 16));
  absl::Status made = MakeDirsWithMode(relocated, 0755);
  if (made.ok() && ::chown(relocated.c_str(), uid_, gid_) != 0) {
    made = absl::FailedPreconditionError(
        absl::StrCat("chown ", relocated, ": ", ErrnoText(errno)));
  }
  if (made.ok()) made = CheckReachable(relocated, user);
  if (!made.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL runs as user '", user.name,
        "', which cannot reach data dir ", data_dir_, ": ", reachable.message(),
        "; placing the cluster in ", relocated,
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
      user.name, data_dir_, std::string(reachable.message()), cluster_root_,
      location_file);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::PrepareDirectories() {
  cluster_dir_ = cluster_root_ + "/pg";
  log_path_ = cluster_root_ + "/pg.log";
  socket_dir_ = cluster_root_ + "/pg-run";
  std::string socket_path = absl::StrCat(socket_dir_, "/.s.PGSQL.", port_);
  bool in_tmp = false;
  if (socket_path.size() > kMaxSocketPath) {
    std::string short_dir =
        absl::StrCat("/tmp/gantry-pg-", Sha256Hex(cluster_root_).substr(0, 12));
    spdlog::info(
        "embedded PostgreSQL: socket path {} is longer than {} bytes; using "
        "socket dir {}",
        socket_path, kMaxSocketPath, short_dir);
    socket_dir_ = short_dir;
    in_tmp = true;
  }

  // The socket dir: ours, private (root bypasses the mode).
  if (::mkdir(socket_dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create socket dir ", socket_dir_, ": ", ErrnoText(errno)));
  }
  struct stat st;
  if (::lstat(socket_dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket dir ", socket_dir_, " is not a directory; remove it"));
  }
  if (st.st_uid != uid_) {
    if (!as_root_ || (in_tmp && st.st_uid != 0)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "socket dir ", socket_dir_, " belongs to uid ", st.st_uid,
          ", not to the PostgreSQL user (uid ", uid_, "); remove it"));
    }
    if (::chown(socket_dir_.c_str(), uid_, gid_) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("chown ", socket_dir_, ": ", ErrnoText(errno)));
    }
  }
  ::chmod(socket_dir_.c_str(), 0700);

  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", log_path_, ": ", ErrnoText(errno)));
  }
  int rc = as_root_ ? ::fchown(fd, uid_, gid_) : 0;
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("chown ", log_path_, ": ", ErrnoText(err)));
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
    return absl::FailedPreconditionError(
        absl::StrCat("chown ", scratch, ": ", ErrnoText(errno)));
  }
  if (options_.template_dir.empty()) {
    spdlog::info("embedded PostgreSQL: initdb {}", cluster_dir_);
    absl::Status made = RunInitdb(scratch);
    if (!made.ok()) {
      fs::remove_all(scratch, ec);
      return made;
    }
  } else {
    RETURN_IF_ERROR(EnsureTemplate());
    std::vector<std::string> argv = {"cp", "-a", TemplateRoot() + "/pg/.",
                                     scratch + "/"};
    RunOptions opts;
    if (as_root_) opts.run_as_user = options_.run_as_user;
    opts.working_dir = cluster_root_;
    ASSIGN_OR_RETURN(RunResult r, RunCommand(argv, opts));
    if (!r.success()) {
      fs::remove_all(scratch, ec);
      return absl::InternalError(absl::StrCat(
          "`", CommandLineString(argv), "` ", r.Describe(), ": ", Tail(r.err)));
    }
  }

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
      return absl::InternalError(
          absl::StrCat("cannot append to ", scratch, "/postgresql.conf"));
    }
  }
  if (::rename(scratch.c_str(), cluster_dir_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(
        "rename ", scratch, " to ", cluster_dir_, ": ", ErrnoText(errno)));
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
  return absl::StrCat(options_.template_dir, "/",
                      Sha256Hex(bin_dir_).substr(0, 12));
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
      status = absl::InternalError(
          absl::StrCat("rename ", scratch, " to ", pg, ": ", ErrnoText(errno)));
    }
    if (!status.ok()) fs::remove_all(scratch, ec);
  }
  ::close(lock);  // releases the lock
  return status;
}

absl::StatusOr<bool> EmbeddedPostgres::AdoptIfRunning() {
  const std::string pid_file = cluster_dir_ + "/postmaster.pid";
  absl::StatusOr<std::string> content = ReadFile(pid_file);
  if (!content.ok()) return false;
  std::vector<std::string> lines = absl::StrSplit(*content, '\n');
  int pid = 0;
  if (lines.empty() || !absl::SimpleAtoi(lines[0], &pid) || pid <= 0) {
    return false;  // unreadable: postgres itself judges it on start
  }
  if (::kill(pid, 0) != 0 && errno == ESRCH) {
    // A dead owner: postgres checks the file (and its shared memory) and
    // replaces it on start.
    spdlog::info("embedded PostgreSQL: stale {} (pid {} is gone)", pid_file,
                 pid);
    return false;
  }

  const std::string real_dir = RealPath(cluster_dir_);
  PidOwner owner = InspectPid(pid, real_dir);
  if (owner == PidOwner::kOther || owner == PidOwner::kGone) {
    std::vector<pid_t> users = ProcessesIn(real_dir);
    if (!users.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "PostgreSQL cluster ", cluster_dir_, ": postmaster ", pid,
          " is gone but processes ", absl::StrJoin(users, ", "),
          " still run in it; stop them before starting the cluster"));
    }
    // The pid now belongs to an unrelated process (or a zombie): postgres
    // would refuse to start while it lives, so the file has to go.
    spdlog::warn(
        "embedded PostgreSQL: removing stale {} (pid {} is not a postmaster "
        "of this cluster)",
        pid_file, pid);
    if (::unlink(pid_file.c_str()) != 0 && errno != ENOENT) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot remove stale ", pid_file, ": ", ErrnoText(errno)));
    }
    return false;
  }

  std::string status =
      lines.size() > 7 ? std::string(absl::StripAsciiWhitespace(lines[7])) : "";
  if (status == "stopping") {
    spdlog::info("embedded PostgreSQL: waiting for stopping postmaster {}",
                 pid);
    absl::Time deadline = absl::Now() + options_.start_timeout;
    while (::kill(pid, 0) == 0 && !ProcessesIn(real_dir).empty()) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("PostgreSQL postmaster ", pid, " in ", cluster_dir_,
                         " did not finish stopping; server log ", log_path_,
                         ":\n", LogTail()));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }
  int port = 0;
  if (lines.size() > 3 && absl::SimpleAtoi(lines[3], &port) && port > 0) {
    port_ = port;
  }
  if (lines.size() > 4 && !absl::StripAsciiWhitespace(lines[4]).empty()) {
    socket_dir_ = std::string(absl::StripAsciiWhitespace(lines[4]));
  }
  spdlog::info("embedded PostgreSQL: adopting running postmaster {} ({})", pid,
               status.empty() ? "unknown state" : status);
  return true;
}

absl::Status EmbeddedPostgres::StartServer() {
  std::vector<std::string> args = {
      "start",
      "-D",
      cluster_dir_,
      "-w",
      "-t",
      Seconds(options_.start_timeout),
      "-l",
      log_path_,
      "-o",
      absl::StrCat("-k ", ShellQuote(socket_dir_),
                   " -c listen_addresses='' -p ", port_)};
  ASSIGN_OR_RETURN(
      RunResult r,
      RunTool("pg_ctl", args, options_.start_timeout + absl::Seconds(30)));
  if (!r.success()) {
    std::vector<std::string> argv = {bin_dir_ + "/pg_ctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return absl::UnavailableError(ToolError(argv, r));
  }
  running_ = true;
  return WaitUntilAccepting(options_.start_timeout);
}

absl::Status EmbeddedPostgres::WaitUntilAccepting(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string last_error;
  while (true) {
    try {
      pqxx::connection c(ConnectionString("postgres"));
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 1");
      return absl::OkStatus();
    } catch (const std::exception& e) {
      last_error = std::string(absl::StripTrailingAsciiWhitespace(e.what()));
    }
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(
          "PostgreSQL in ", cluster_dir_, " does not accept connections on ",
          socket_dir_, " port ", port_, ": ", last_error, "; server log ",
          log_path_, ":\n", LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

absl::Status EmbeddedPostgres::Stop() {
  absl::MutexLock lock(&mu_);
  return StopLocked();
}

absl::Status EmbeddedPostgres::StopLocked() {
  if (!running_) return absl::OkStatus();
  std::vector<std::string> args = {"stop", "-D", cluster_dir_, "-m",
                                   "fast", "-w", "-t",         "60"};
  ASSIGN_OR_RETURN(RunResult r, RunTool("pg_ctl", args, absl::Seconds(90)));
  if (r.success()) {
    running_ = false;
    return absl::OkStatus();
  }
  // Already stopped by someone else?
  ASSIGN_OR_RETURN(
      RunResult status,
      RunTool("pg_ctl", {"status", "-D", cluster_dir_}, absl::Seconds(30)));
  if (status.exit_code == 3) {
    running_ = false;
    return absl::OkStatus();
  }
  spdlog::warn(
      "embedded PostgreSQL: fast stop failed ({}), stopping immediately",
      r.Describe());
  ASSIGN_OR_RETURN(RunResult now, RunTool("pg_ctl",
                                          {"stop", "-D", cluster_dir_, "-m",
                                           "immediate", "-w", "-t", "60"},
                                          absl::Seconds(90)));
  if (now.success()) {
    running_ = false;
    return absl::OkStatus();
  }
  std::vector<std::string> argv = {bin_dir_ + "/pg_ctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return absl::InternalError(ToolError(argv, r));
}

absl::Status EmbeddedPostgres::Restart() {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(StopLocked());
  detached_ = false;
  return StartServer();
}

void EmbeddedPostgres::Detach() {
  absl::MutexLock lock(&mu_);
  detached_ = true;
}

std::string EmbeddedPostgres::ConnectionString(
    const std::string& database) const {
  return absl::StrCat("host=", ConnValue(socket_dir_), " port=", port_,
                      " user=", kSuperuser, " dbname=", ConnValue(database));
}

std::string EmbeddedPostgres::ConnectionString() const {
  return ConnectionString(options_.database);
}

std::string EmbeddedPostgres::ConnectionUri(const std::string& database) const {
  return absl::StrCat("postgresql://", kSuperuser, "@/",
                      PercentEncode(database),
                      "?host=", PercentEncode(socket_dir_), "&port=", port_);
}

absl::Status EmbeddedPostgres::CreateDatabase(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("empty database name");
  std::string last_error;
  // CREATE DATABASE fails while another session uses the template; retry.
  for (int attempt = 0; attempt < 20; ++attempt) {
    try {
      pqxx::connection c(ConnectionString("postgres"));
      pqxx::nontransaction tx(c);
      pqxx::result r =
          tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name);
      if (!r.empty()) return absl::OkStatus();
      tx.exec("CREATE DATABASE " + tx.quote_name(name));
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "42P04")
        return absl::OkStatus();  // created meanwhile
      last_error = e.what();
      if (e.sqlstate() != "55006") break;  // object_in_use: the template
    } catch (const std::exception& e) {
      last_error = e.what();
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat(
      "CREATE DATABASE ", name, " on ", ConnectionString("postgres"), ": ",
      absl::StripTrailingAsciiWhitespace(last_error)));
}

absl::Status EmbeddedPostgres::DropDatabase(const std::string& name) {
  try {
    pqxx::connection c(ConnectionString("postgres"));
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "DROP DATABASE ", name, " on ", ConnectionString("postgres"), ": ",
        absl::StripTrailingAsciiWhitespace(e.what())));
  }
}

absl::StatusOr<RunResult> EmbeddedPostgres::RunTool(
    const std::string& tool, const std::vector<std::string>& args,
    absl::Duration timeout) {
  std::vector<std::string> argv = {bin_dir_ + "/" + tool};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions opts;
  if (as_root_) opts.run_as_user = options_.run_as_user;
  // A directory the tool's user can enter (ours may be /root).
  opts.working_dir = cluster_root_;
  opts.env = {{"LC_ALL", "C"}};
  opts.timeout = timeout;
  absl::StatusOr<RunResult> r = RunCommand(argv, opts);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("embedded PostgreSQL: ",
                                                        r.status().message()));
  }
  return r;
}

std::string EmbeddedPostgres::ToolError(const std::vector<std::string>& argv,
                                        const RunResult& result) const {
  std::string output = Tail(result.err + result.out);
  return absl::StrCat("`", CommandLineString(argv), "` ", result.Describe(),
                      output.empty() ? "" : ":\n", output, "\nserver log ",
                      log_path_, ":\n", LogTail());
}

std::string EmbeddedPostgres::LogTail() const {
  absl::StatusOr<std::string> log = ReadFile(log_path_);
  if (!log.ok()) return std::string(log.status().message());
  std::string tail = Tail(*log);
  return tail.empty() ? "(empty)" : tail;
}

}  // namespace gantry
