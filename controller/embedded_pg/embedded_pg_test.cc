#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/process.h"
#include "common/process/user.h"
#include "controller/embedded_pg/embedded_postgres.h"

namespace gantry {
namespace {

// First column of the first row of `sql`, run in its own transaction.
absl::StatusOr<std::string> QueryOne(const std::string& conninfo,
                                     const std::string& sql) {
  try {
    pqxx::connection c(conninfo);
    pqxx::work w(c);
    pqxx::result r = w.exec(sql);
    w.commit();
    if (r.empty() || r[0].empty()) return std::string();
    return std::string(r[0][0].is_null() ? "" : r[0][0].c_str());
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
}

// A temporary directory the PostgreSQL user can reach (mode 0755), removed
// with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gantry-pg-test") {
    std::string tmpl = absl::StrCat("/tmp/", prefix, "-XXXXXX");
    path_ = mkdtemp(tmpl.data());
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() { RunCommand({"rm", "-rf", path_}).IgnoreError(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fast, non-durable clusters; the first test checks the durable default.
EmbeddedPostgresOptions OptionsFor(const std::string& data_dir) {
  EmbeddedPostgresOptions o;
  o.data_dir = data_dir;
  o.durable = false;
  return o;
}

// Makes `path` belong to the owner of `like` (the cluster's user).
void ChownLike(const std::string& path, const std::string& like) {
  struct stat st;
  ASSERT_EQ(::stat(like.c_str(), &st), 0);
  ASSERT_EQ(::chown(path.c_str(), st.st_uid, st.st_gid), 0);
}

// A fresh data dir gets a cluster that accepts connections, and Stop ends it.
TEST(EmbeddedPostgresTest, StartsConnectsAndStops) {
  TempDir dir;
  EmbeddedPostgresOptions o = OptionsFor(dir.path() + "/data");
  o.durable = true;
  auto pg = EmbeddedPostgres::Start(o);
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_FALSE((*pg)->adopted());
  EXPECT_EQ((*pg)->cluster_dir(), dir.path() + "/data/pg");
  EXPECT_EQ((*pg)->socket_dir(), dir.path() + "/data/pg-run");
  EXPECT_TRUE(FileExists(dir.path() + "/data/pg/PG_VERSION"));

  auto one = QueryOne((*pg)->ConnectionString(), "SELECT 1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, "1");
  auto db =
      QueryOne((*pg)->ConnectionUri("gantry"), "SELECT current_database()");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*db, "gantry");
  // Only the Unix socket: no TCP listener.
  auto listen = QueryOne((*pg)->ConnectionString(), "SHOW listen_addresses");
  ASSERT_TRUE(listen.ok()) << listen.status();
  EXPECT_EQ(*listen, "");
  auto fsync = QueryOne((*pg)->ConnectionString(), "SHOW fsync");
  ASSERT_TRUE(fsync.ok());
  EXPECT_EQ(*fsync, "on");
  auto conninfo = ReadFile(dir.path() + "/data/pg.conninfo");
  ASSERT_TRUE(conninfo.ok()) << conninfo.status();
  EXPECT_EQ(absl::StripTrailingAsciiWhitespace(*conninfo),
            (*pg)->ConnectionString());

  ASSERT_TRUE((*pg)->Stop().ok());
  EXPECT_TRUE((*pg)->Stop().ok()) << "Stop is idempotent";
  EXPECT_FALSE(QueryOne((*pg)->ConnectionString(), "SELECT 1").ok());
  EXPECT_FALSE(FileExists(dir.path() + "/data/pg/postmaster.pid"));
}

// A second Start on the same data dir reuses the cluster and its data.
TEST(EmbeddedPostgresTest, SecondStartReusesCluster) {
  TempDir dir;
  {
    auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
    ASSERT_TRUE(pg.ok()) << pg.status();
    auto created = QueryOne((*pg)->ConnectionString(),
                            "CREATE TABLE t (v text); INSERT INTO t VALUES "
                            "('kept'); SELECT 'ok'");
    ASSERT_TRUE(created.ok()) << created.status();
  }  // the destructor stops it
  auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_FALSE((*pg)->adopted());
  auto v = QueryOne((*pg)->ConnectionString(), "SELECT v FROM t");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "kept");
}

// A server whose owner died without stopping it is adopted, quickly.
TEST(EmbeddedPostgresTest, AdoptsRunningPostmaster) {
  TempDir dir;
  auto first = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(first.ok()) << first.status();
  std::string conninfo = (*first)->ConnectionString();
  ASSERT_TRUE(QueryOne(conninfo,
                       "CREATE TABLE t (v int); INSERT INTO t "
                       "VALUES (42); SELECT 1")
                  .ok());
  (*first)->Detach();
  first->reset();  // the "crashed" owner: the server keeps running
  ASSERT_TRUE(QueryOne(conninfo, "SELECT 1").ok()) << "server should still run";

  absl::Time start = absl::Now();
  auto second = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE((*second)->adopted());
  EXPECT_EQ((*second)->ConnectionString(), conninfo);
  auto v = QueryOne(conninfo, "SELECT v FROM t");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "42");
  ASSERT_TRUE((*second)->Stop().ok());
  EXPECT_FALSE(QueryOne(conninfo, "SELECT 1").ok());
}

// postmaster.pid left with a dead pid does not stop (or hang) the next Start.
TEST(EmbeddedPostgresTest, StalePidFileWithDeadPid) {
  TempDir dir;
  std::string pid_file;
  std::string socket_dir;
  {
    auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
    ASSERT_TRUE(pg.ok()) << pg.status();
    pid_file = (*pg)->cluster_dir() + "/postmaster.pid";
    socket_dir = (*pg)->socket_dir();
    ASSERT_TRUE((*pg)->Stop().ok());
  }
  // A pid that surely exited: a child we ran and reaped.
  auto done = ChildProcess::Spawn({"true"});
  ASSERT_TRUE(done.ok()) << done.status();
  pid_t dead = (*done)->pid();
  ASSERT_TRUE((*done)->Wait(absl::Seconds(30)).ok());
  ASSERT_TRUE(
      WriteFileAtomic(
          pid_file,
          absl::StrCat(dead, "\n", dir.path(), "/pg\n1700000000\n5432\n",
                       socket_dir, "\n\n  5432001         0\nready   \n"),
          0600)
          .ok());

  absl::Time start = absl::Now();
  ChownLike(pid_file, dir.path() + "/pg");
  auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
  EXPECT_FALSE((*pg)->adopted());
  EXPECT_TRUE(QueryOne((*pg)->ConnectionString(), "SELECT 1").ok());
}

// postmaster.pid naming a live but unrelated process (a reused pid) is
// cleared instead of making postgres refuse to start.
TEST(EmbeddedPostgresTest, StalePidFileWithReusedPid) {
  TempDir dir;
  std::string pid_file;
  std::string socket_dir;
  {
    auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
    ASSERT_TRUE(pg.ok()) << pg.status();
    pid_file = (*pg)->cluster_dir() + "/postmaster.pid";
    socket_dir = (*pg)->socket_dir();
  }
  ASSERT_TRUE(
      WriteFileAtomic(
          pid_file,
          absl::StrCat(getpid(), "\n", dir.path(), "/pg\n1700000000\n5432\n",
                       socket_dir, "\n\n  5432001         0\nready   \n"),
          0600)
          .ok());
  ChownLike(pid_file, dir.path() + "/pg");
  auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_FALSE((*pg)->adopted());
  EXPECT_TRUE(QueryOne((*pg)->ConnectionString(), "SELECT 1").ok());
}

// Clusters copied from a template work like initdb'd ones, independently.
TEST(EmbeddedPostgresTest, CopiesClustersFromTemplate) {
  TempDir dir;
  EmbeddedPostgresOptions a = OptionsFor(dir.path() + "/a");
  a.template_dir = dir.path() + "/template";
  EmbeddedPostgresOptions b = a;
  b.data_dir = dir.path() + "/b";
  auto pg_a = EmbeddedPostgres::Start(a);
  ASSERT_TRUE(pg_a.ok()) << pg_a.status();
  EXPECT_TRUE(FileExists(absl::StrCat(
      dir.path(), "/template/", Sha256Hex((*pg_a)->bin_dir()).substr(0, 12),
      "/pg/PG_VERSION")));
  absl::Time start = absl::Now();
  auto pg_b = EmbeddedPostgres::Start(b);
  ASSERT_TRUE(pg_b.ok()) << pg_b.status();
  spdlog::info("cluster from template in {}",
               absl::FormatDuration(absl::Now() - start));
  EXPECT_NE((*pg_a)->ConnectionString(), (*pg_b)->ConnectionString());
  ASSERT_TRUE(QueryOne((*pg_a)->ConnectionString(),
                       "CREATE TABLE only_a (v int); SELECT 1")
                  .ok());
  EXPECT_TRUE(
      QueryOne((*pg_a)->ConnectionString(), "SELECT count(*) FROM only_a")
          .ok());
  EXPECT_FALSE(
      QueryOne((*pg_b)->ConnectionString(), "SELECT count(*) FROM only_a")
          .ok());
  auto fsync = QueryOne((*pg_b)->ConnectionString(), "SHOW fsync");
  ASSERT_TRUE(fsync.ok()) << fsync.status();
  EXPECT_EQ(*fsync, "off");
}

// Restart keeps the same connection string and the data.
TEST(EmbeddedPostgresTest, RestartKeepsSocketAndData) {
  TempDir dir;
  auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string conninfo = (*pg)->ConnectionString();
  ASSERT_TRUE(QueryOne(conninfo, "CREATE TABLE t (v int); SELECT 1").ok());
  ASSERT_TRUE((*pg)->Restart().ok());
  EXPECT_EQ((*pg)->ConnectionString(), conninfo);
  auto count = QueryOne(conninfo, "SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, "0");
}

// CreateDatabase is idempotent; DropDatabase removes it.
TEST(EmbeddedPostgresTest, CreatesAndDropsDatabases) {
  TempDir dir;
  auto pg = EmbeddedPostgres::Start(OptionsFor(dir.path()));
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->CreateDatabase("Other-DB").ok());
  ASSERT_TRUE((*pg)->CreateDatabase("Other-DB").ok());
  auto db = QueryOne((*pg)->ConnectionString("Other-DB"),
                     "SELECT current_database()");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*db, "Other-DB");
  auto uri_db =
      QueryOne((*pg)->ConnectionUri("Other-DB"), "SELECT current_database()");
  ASSERT_TRUE(uri_db.ok()) << uri_db.status();
  EXPECT_EQ(*uri_db, "Other-DB");
  ASSERT_TRUE((*pg)->DropDatabase("Other-DB").ok());
  EXPECT_FALSE(QueryOne((*pg)->ConnectionString("Other-DB"), "SELECT 1").ok());
  EXPECT_TRUE((*pg)->DropDatabase("Other-DB").ok());
}

// A data dir too deep for a Unix socket path gets its socket under /tmp.
TEST(EmbeddedPostgresTest, LongDataDirUsesShortSocketDir) {
  TempDir dir;
  std::string data = dir.path() + "/" + std::string(100, 'd');
  auto pg = EmbeddedPostgres::Start(OptionsFor(data));
  ASSERT_TRUE(pg.ok()) << pg.status();
  std::string socket_dir = (*pg)->socket_dir();
  EXPECT_TRUE(absl::StartsWith(socket_dir, "/tmp/gantry-pg-")) << socket_dir;
  EXPECT_LE(socket_dir.size() + std::string("/.s.PGSQL.5432").size(), 107u);
  EXPECT_TRUE(QueryOne((*pg)->ConnectionString(), "SELECT 1").ok());
  ASSERT_TRUE((*pg)->Stop().ok());
  ::rmdir(socket_dir.c_str());
}

// As root, a data dir the postgres user cannot reach moves the cluster to the
// relocation root and records where; a later Start finds it there.
TEST(EmbeddedPostgresTest, RelocatesUnreachableDataDir) {
  if (!RunningAsRoot()) GTEST_SKIP() << "needs root";
  if (!LookupUser("postgres").ok()) GTEST_SKIP() << "needs a postgres user";
  TempDir base("gantry-pg-reloc");  // root-owned, 0755
  std::string private_dir = base.path() + "/private";
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  std::string data = private_dir + "/data";
  EmbeddedPostgresOptions o = OptionsFor(data);
  o.relocation_root = base.path() + "/reloc";
  std::string expected_root =
      absl::StrCat(o.relocation_root, "/", Sha256Hex(data).substr(0, 16));
  {
    auto pg = EmbeddedPostgres::Start(o);
    ASSERT_TRUE(pg.ok()) << pg.status();
    EXPECT_TRUE((*pg)->relocated());
    EXPECT_EQ((*pg)->cluster_dir(), expected_root + "/pg");
    EXPECT_TRUE(FileExists(expected_root + "/pg/PG_VERSION"));
    EXPECT_FALSE(FileExists(data + "/pg"));
    auto location = ReadFile(data + "/pg.location");
    ASSERT_TRUE(location.ok()) << location.status();
    EXPECT_EQ(*location, expected_root + "\n");
    ASSERT_TRUE(QueryOne((*pg)->ConnectionString(),
                         "CREATE TABLE t (v int); INSERT INTO t VALUES (7); "
                         "SELECT 1")
                    .ok());
  }
  auto again = EmbeddedPostgres::Start(o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->cluster_dir(), expected_root + "/pg");
  auto v = QueryOne((*again)->ConnectionString(), "SELECT v FROM t");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "7");
}

// When relocating is impossible too, Start says what to do.
TEST(EmbeddedPostgresTest, UnreachableWithoutRelocationFails) {
  if (!RunningAsRoot()) GTEST_SKIP() << "needs root";
  if (!LookupUser("postgres").ok()) GTEST_SKIP() << "needs a postgres user";
  TempDir base("gantry-pg-reloc");
  std::string private_dir = base.path() + "/private";
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  EmbeddedPostgresOptions o = OptionsFor(private_dir + "/data");
  o.relocation_root = private_dir + "/reloc";  // just as unreachable
  auto pg = EmbeddedPostgres::Start(o);
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(pg.status().message(), private_dir))
      << pg.status();
  EXPECT_TRUE(absl::StrContains(pg.status().message(), "--database-url"))
      << pg.status();
}

// Configuration mistakes are clear errors.
TEST(EmbeddedPostgresTest, BadOptionsAreErrors) {
  TempDir dir;
  EmbeddedPostgresOptions o = OptionsFor(dir.path());
  o.bin_dir = dir.path();
  auto bad_bin = EmbeddedPostgres::Start(o);
  ASSERT_FALSE(bad_bin.ok());
  EXPECT_EQ(bad_bin.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(bad_bin.status().message(), "initdb"));

  EXPECT_FALSE(EmbeddedPostgres::Start(OptionsFor("")).ok());

  if (RunningAsRoot()) {
    EmbeddedPostgresOptions u = OptionsFor(dir.path());
    u.run_as_user = "gantry-no-such-user";
    auto bad_user = EmbeddedPostgres::Start(u);
    ASSERT_FALSE(bad_user.ok());
    EXPECT_TRUE(
        absl::StrContains(bad_user.status().message(), "gantry-no-such-user"))
        << bad_user.status();
  }
}

}  // namespace
}  // namespace gantry
