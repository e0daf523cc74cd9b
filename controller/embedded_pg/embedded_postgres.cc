#include "controller/embedded_pg/embedded_postgres.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/process/user.h"
#include "common/status_macros.h"
#include "controller/embedded_pg/pg_host.h"

namespace gantry {
namespace {

namespace fs = std::filesystem;

using embedded_pg::ChownTree;
using embedded_pg::FindBinDir;
using embedded_pg::Tail;

constexpr char kConninfoFile[] = "pg.conninfo";

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
  RETURN_IF_ERROR(ChooseClusterOwner());

  RETURN_IF_ERROR(ChooseClusterRoot());
  RETURN_IF_ERROR(PrepareDirectories());
  if (!FileExists(cluster_dir_ + "/PG_VERSION")) {
    RETURN_IF_ERROR(InitCluster());
  } else if (as_root_) {
    struct stat st;
    if (::stat(cluster_dir_.c_str(), &st) == 0 && st.st_uid != uid_) {
      spdlog::warn("embedded PostgreSQL: {} belongs to uid {}, chowning it to {}", cluster_dir_,
                   st.st_uid, options_.run_as_user);
      RETURN_IF_ERROR(ChownTree(cluster_dir_, uid_, gid_));
    }
  }

  RETURN_IF_ERROR(StartOrAdopt());
  RETURN_IF_ERROR(CreateDatabase(options_.database));
  RETURN_IF_ERROR(
      WriteFileAtomic(data_dir_ + "/" + kConninfoFile, ConnectionString() + "\n", 0600));
  spdlog::info("embedded PostgreSQL {} in {} on socket {} port {}",
               adopted_ ? "adopted" : "started", cluster_dir_, socket_dir_, port_);
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::ChooseClusterOwner() {
  as_root_ = RunningAsRoot();
  if (!as_root_) {
    uid_ = ::geteuid();
    gid_ = ::getegid();
    return absl::OkStatus();
  }
  absl::StatusOr<UserInfo> user = LookupUser(options_.run_as_user);
  if (!user.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL refuses to run as root, and the user it should run as, '", options_.run_as_user,
        "', does not exist: create it (useradd "
        "--system ",
        options_.run_as_user,
        "), name another user, or use "
        "--database-url"));
  }
  if (user->uid == 0) {
    return absl::FailedPreconditionError(absl::StrCat("PostgreSQL refuses to run as root: user '",
                                                      options_.run_as_user,
                                                      "' has uid 0; name an unprivileged user"));
  }
  uid_ = user->uid;
  gid_ = user->gid;
  return absl::OkStatus();
}

absl::Status EmbeddedPostgres::StartOrAdopt() {
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
  return absl::OkStatus();
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
      absl::StrCat("-k ", ShellQuote(socket_dir_), " -c listen_addresses='' -p ", port_)};
  ASSIGN_OR_RETURN(RunResult r,
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
          "PostgreSQL in ", cluster_dir_, " does not accept connections on ", socket_dir_, " port ",
          port_, ": ", last_error, "; server log ", log_path_, ":\n", LogTail()));
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
  std::vector<std::string> args = {"stop", "-D", cluster_dir_, "-m", "fast", "-w", "-t", "60"};
  ASSIGN_OR_RETURN(RunResult r, RunTool("pg_ctl", args, absl::Seconds(90)));
  if (r.success()) {
    running_ = false;
    return absl::OkStatus();
  }
  // Already stopped by someone else?
  ASSIGN_OR_RETURN(RunResult status,
                   RunTool("pg_ctl", {"status", "-D", cluster_dir_}, absl::Seconds(30)));
  if (status.exit_code == 3) {
    running_ = false;
    return absl::OkStatus();
  }
  spdlog::warn("embedded PostgreSQL: fast stop failed ({}), stopping immediately", r.Describe());
  ASSIGN_OR_RETURN(
      RunResult now,
      RunTool("pg_ctl", {"stop", "-D", cluster_dir_, "-m", "immediate", "-w", "-t", "60"},
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

std::string EmbeddedPostgres::ConnectionString(const std::string& database) const {
  return absl::StrCat("host=", ConnValue(socket_dir_), " port=", port_, " user=", kSuperuser,
                      " dbname=", ConnValue(database));
}

std::string EmbeddedPostgres::ConnectionString() const {
  return ConnectionString(options_.database);
}

std::string EmbeddedPostgres::ConnectionUri(const std::string& database) const {
  return absl::StrCat("postgresql://", kSuperuser, "@/", PercentEncode(database),
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
      pqxx::result r = tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name);
      if (!r.empty()) return absl::OkStatus();
      tx.exec("CREATE DATABASE " + tx.quote_name(name));
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "42P04") return absl::OkStatus();  // created meanwhile
      last_error = e.what();
      if (e.sqlstate() != "55006") break;  // object_in_use: the template
    } catch (const std::exception& e) {
      last_error = e.what();
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat("CREATE DATABASE ", name, " on ",
                                             ConnectionString("postgres"), ": ",
                                             absl::StripTrailingAsciiWhitespace(last_error)));
}

absl::Status EmbeddedPostgres::DropDatabase(const std::string& name) {
  try {
    pqxx::connection c(ConnectionString("postgres"));
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("DROP DATABASE ", name, " on ",
                                               ConnectionString("postgres"), ": ",
                                               absl::StripTrailingAsciiWhitespace(e.what())));
  }
}

absl::StatusOr<RunResult> EmbeddedPostgres::RunTool(const std::string& tool,
                                                    const std::vector<std::string>& args,
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
    return absl::Status(r.status().code(),
                        absl::StrCat("embedded PostgreSQL: ", r.status().message()));
  }
  return r;
}

std::string EmbeddedPostgres::ToolError(const std::vector<std::string>& argv,
                                        const RunResult& result) const {
  std::string output = Tail(result.err + result.out);
  return absl::StrCat("`", CommandLineString(argv), "` ", result.Describe(),
                      output.empty() ? "" : ":\n", output, "\nserver log ", log_path_, ":\n",
                      LogTail());
}

std::string EmbeddedPostgres::LogTail() const {
  absl::StatusOr<std::string> log = ReadFile(log_path_);
  if (!log.ok()) return std::string(log.status().message());
  std::string tail = Tail(*log);
  return tail.empty() ? "(empty)" : tail;
}

}  // namespace gantry
