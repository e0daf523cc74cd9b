// End-to-end: git materials (docs/materials.md) through the real
// controller, agent and CLI on a real PostgreSQL, with bare repositories in
// the test's directory reached by file:// URLs. What a job checked out is
// proved by what it printed: `git rev-parse HEAD` in its destination and
// the GANTRY_REVISION_/GANTRY_MATERIAL_*_BRANCH variables.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/git/test_repo.h"
#include "common/testing/wait_for.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(60);

// A job that shows what it checked out into `dir` (relative to the job
// directory) and the material variables of `var` (the material's name as
// the variables spell it).
std::string ShowCheckoutJob(const std::string& dir, const std::string& var) {
  return absl::StrCat(
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - >-\n"
      "                        echo head=$(git -C ",
      dir, " rev-parse HEAD) rev=$GANTRY_REVISION_", var, " branch=$GANTRY_MATERIAL_", var,
      "_BRANCH; cat ", dir, "/README\n");
}

// A loopback port that accepts connections and never answers: a hanging
// remote.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

const v1::MaterialRevision* Material(const v1::PipelineRun& run, const std::string& name) {
  for (const auto& m : run.cause().materials()) {
    if (m.material() == name) return &m;
  }
  return nullptr;
}

// Polling: the first fetch triggers the pipeline, a push of two commits
// triggers it again with both listed in the build cause (author, message),
// `pipeline show` prints them, `trigger --revision src=SHORT` builds an
// older commit, and each job checked out exactly its recorded revision
// with the material variables set. Beside it a material whose remote hangs
// (with credentials in its URL) times out, is backed off, and delays
// nothing; the credentials never reach the log. A checkout that cannot
// fetch fails its job with git's message.
TEST(MaterialsE2eTest, PollTriggersChecksOutAndRecordsCommits) {
  Cluster cluster("materials_poll");
  git::TestRepo repo(cluster.dir() + "/repos", "app");
  git::TestRepo gone(cluster.dir() + "/repos", "gone");
  std::string c1 = repo.Commit("first commit");
  std::string g1 = gone.Commit("gone commit");
  SilentServer silent;
  ASSERT_TRUE(
      cluster.StartController({"--material-poll-interval", "1s", "--git-timeout", "2s"}).ok());
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents());
  std::string yaml = absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  app:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      src:\n"
      "        git: ",
      repo.url(),
      "\n"
      "        branch: main\n"
      "        destination: code\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            show:\n",
      ShowCheckoutJob("code", "SRC"),
      "  stuck:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      remote:\n"
      "        git: http://bob:s3cret@127.0.0.1:",
      silent.port(),
      "/r.git\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            show:\n",
      ShowCheckoutJob(".", "REMOTE"),
      "  fragile:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      lib:\n"
      "        git: ",
      gone.url(),
      "\n"
      "        branch: main\n"
      "        shallow_clone: true\n"
      "    stages:\n"
      "      - build:\n"
      "          approval: manual\n"
      "          jobs:\n"
      "            show:\n",
      ShowCheckoutJob(".", "LIB"));
  absl::Status applied = cluster.ApplyConfig(yaml);
  ASSERT_TRUE(applied.ok()) << applied;

  // The first poll builds the branch's head.
  ASSERT_TRUE(cluster.WaitForRunState("app/1", "passed", kDeadline)) << cluster.LogTails();
  auto log = cluster.JobLog("app/1/build/show");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, absl::StrCat("head=", c1, " rev=", c1, " branch=main")))
      << *log;
  EXPECT_TRUE(absl::StrContains(*log, "first commit")) << *log;

  // Two commits pushed together: one run, with both in its build cause.
  std::string c2 = repo.Commit("second commit", "README", "two\n", "",
                               "Ada Lovelace <ada@example.com>", /*push=*/false);
  std::string c3 = repo.Commit("third commit", "README", "three\n", "", "Bob B <bob@example.com>");
  ASSERT_TRUE(cluster.WaitForRunState("app/2", "passed", kDeadline)) << cluster.LogTails();
  auto run = cluster.ShowRun("app/2");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->cause().kind(), "material");
  const v1::MaterialRevision* src = Material(*run, "src");
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->revision(), c3);
  ASSERT_EQ(src->commits_size(), 2) << run->DebugString();
  EXPECT_EQ(src->commits(0).revision(), c3);
  EXPECT_EQ(src->commits(0).author(), "Bob B <bob@example.com>");
  EXPECT_EQ(src->commits(0).message(), "third commit");
  EXPECT_GT(src->commits(0).time().seconds(), 0);
  EXPECT_EQ(src->commits(1).revision(), c2);
  log = cluster.JobLog("app/2/build/show");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, absl::StrCat("head=", c3, " rev=", c3))) << *log;
  EXPECT_TRUE(absl::StrContains(*log, "three")) << *log;
  CliResult show = cluster.Cli({"pipeline", "show", "app/2"});
  ASSERT_EQ(show.exit_code, 0) << show.ToString();
  EXPECT_TRUE(absl::StrContains(show.out, "commits of src:")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "third commit")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "second commit")) << show.out;
  EXPECT_TRUE(absl::StrContains(show.out, "Bob B <bob@example.com>")) << show.out;

  // An older commit on request, named by an abbreviation.
  CliResult trig =
      cluster.Cli({"pipeline", "trigger", "app", "--revision", "src=" + c1.substr(0, 10)});
  ASSERT_EQ(trig.exit_code, 0) << trig.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("app/3", "passed", kDeadline)) << cluster.LogTails();
  run = cluster.ShowRun("app/3");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Material(*run, "src")->revision(), c1);
  log = cluster.JobLog("app/3/build/show");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, absl::StrCat("head=", c1, " rev=", c1))) << *log;
  // A commit the repository does not have is refused at once.
  trig = cluster.Cli({"pipeline", "trigger", "app", "--revision", "src=0123456789abcdef"});
  EXPECT_NE(trig.exit_code, 0) << trig.ToString();
  EXPECT_TRUE(absl::StrContains(trig.err, "no commit '0123456789abcdef'")) << trig.ToString();

  // The hanging remote timed out (and is retried with backoff) while the
  // rest went on; its password never reached the log.
  ASSERT_TRUE(WaitFor(
      [&] { return absl::StrContains(cluster.ControllerLog(), "git fetch timed out after 2s"); },
      kDeadline))
      << cluster.LogTails();
  EXPECT_TRUE(absl::StrContains(cluster.ControllerLog(), "http://***@127.0.0.1"));
  EXPECT_FALSE(absl::StrContains(cluster.ControllerLog(), "s3cret"));

  // fragile waits at its manual gate with g1 recorded; its repository goes
  // away before the agent has fetched it: the job fails with git's message.
  ASSERT_TRUE(cluster.WaitForRunState("fragile/1", "awaiting_approval", kDeadline))
      << cluster.LogTails();
  std::filesystem::remove_all(gone.bare_path());
  CliResult approve = cluster.Cli({"stage", "approve", "fragile/1/build"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("fragile/1", "failed", kDeadline)) << cluster.LogTails();
  log = cluster.JobLog("fragile/1/build/show");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, "checkout failed: material lib: git fetch failed:")) << *log;
  EXPECT_TRUE(absl::StrContains(*log, "does not appear to be a git repository")) << *log;
  EXPECT_FALSE(absl::StrContains(*log, "head=")) << *log;  // no task ran
  (void)g1;
}

// Notify: with polling off (auto_update: false) nothing runs until
// `gantry material notify`, which fetches the URL once for both pipelines
// that use it and triggers both at once. Fan-in: `deploy` has the same
// repository directly and through `app`; it is never triggered by the
// poll, only by app passing, and always builds app's revision.
TEST(MaterialsE2eTest, NotifyFetchesOnceAndFanInStaysConsistent) {
  Cluster cluster("materials_notify");
  git::TestRepo repo(cluster.dir() + "/repos", "lib");
  git::TestRepo app_repo(cluster.dir() + "/repos", "app");
  std::string l1 = repo.Commit("lib one");
  std::string a1 = app_repo.Commit("app one");
  ASSERT_TRUE(cluster.StartController({"--material-poll-interval", "1s"}).ok());
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents());
  auto lib_material = [&](const std::string& extra) {
    return absl::StrCat("    materials:\n      lib:\n        git: ", repo.url(),
                        "\n        branch: main\n        auto_update: false\n", extra);
  };
  std::string yaml = absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  one:\n"
      "    group: e2e\n",
      lib_material(""), "    stages:\n      - build:\n          jobs:\n            show:\n",
      ShowCheckoutJob(".", "LIB"),
      "  two:\n"
      "    group: e2e\n",
      lib_material(""), "    stages:\n      - build:\n          jobs:\n            show:\n",
      ShowCheckoutJob(".", "LIB"),
      "  app:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      src:\n"
      "        git: ",
      app_repo.url(),
      "\n"
      "        branch: main\n"
      "    stages:\n      - build:\n          jobs:\n            show:\n",
      ShowCheckoutJob(".", "SRC"),
      "  deploy:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      code:\n"
      "        git: ",
      app_repo.url(),
      "\n"
      "        branch: main\n"
      "        destination: code\n"
      "      up:\n"
      "        pipeline: app\n"
      "        stage: build\n"
      "    stages:\n      - ship:\n          jobs:\n            show:\n",
      ShowCheckoutJob("code", "CODE"));
  absl::Status applied = cluster.ApplyConfig(yaml);
  ASSERT_TRUE(applied.ok()) << applied;

  // Fan-in: app/1 from the poll, then deploy/1 from app, at app's commit.
  ASSERT_TRUE(cluster.WaitForRunState("deploy/1", "passed", kDeadline)) << cluster.LogTails();
  auto deploy = cluster.ShowRun("deploy/1");
  ASSERT_TRUE(deploy.ok());
  EXPECT_EQ(deploy->cause().kind(), "upstream");
  EXPECT_EQ(Material(*deploy, "code")->revision(), a1);
  std::string a2 = app_repo.Commit("app two", "README", "two\n");
  ASSERT_TRUE(cluster.WaitForRunState("deploy/2", "passed", kDeadline)) << cluster.LogTails();
  deploy = cluster.ShowRun("deploy/2");
  ASSERT_TRUE(deploy.ok());
  EXPECT_EQ(deploy->cause().kind(), "upstream");
  EXPECT_EQ(Material(*deploy, "code")->revision(), a2);
  auto log = cluster.JobLog("deploy/2/ship/show");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, absl::StrCat("head=", a2, " rev=", a2))) << *log;
  // Never a deploy run of its own from the poll: exactly one per app run.
  auto none = cluster.ShowRun("deploy/3");
  EXPECT_FALSE(none.ok());

  // auto_update: false: polling has not built one or two.
  EXPECT_FALSE(cluster.ShowRun("one/1").ok());
  EXPECT_FALSE(cluster.ShowRun("two/1").ok());
  CliResult notify = cluster.Cli({"material", "notify", "--url", repo.url()});
  ASSERT_EQ(notify.exit_code, 0) << notify.ToString();
  // One URL and branch for both pipelines: one fetch.
  EXPECT_TRUE(absl::StrContains(notify.out, "fetching 1 material now")) << notify.out;
  ASSERT_TRUE(cluster.WaitForRunState("one/1", "passed", kDeadline)) << cluster.LogTails();
  ASSERT_TRUE(cluster.WaitForRunState("two/1", "passed", kDeadline)) << cluster.LogTails();
  for (const char* p : {"one/1/build/show", "two/1/build/show"}) {
    log = cluster.JobLog(p);
    ASSERT_TRUE(log.ok());
    EXPECT_TRUE(absl::StrContains(*log, absl::StrCat("head=", l1, " rev=", l1))) << *log;
  }
  // Two repositories fetched, so two mirrors: lib's is shared.
  int mirrors = 0;
  for (const auto& e : std::filesystem::directory_iterator(cluster.data_dir() + "/materials")) {
    mirrors += absl::EndsWith(e.path().string(), ".git");
  }
  EXPECT_EQ(mirrors, 2);

  CliResult unknown = cluster.Cli({"material", "notify", "--url", "file:///nowhere.git"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "no git material")) << unknown.ToString();
}

// Filters (issue 17 point 5): a commit that changes only files `ignore`
// leaves out triggers nothing; the next commit that changes code does. A
// material with `ignore_for_scheduling` is polled but never triggers.
TEST(MaterialsE2eTest, IgnoreFilterSkipsCommitsOfIgnoredFiles) {
  Cluster cluster("materials_filter");
  git::TestRepo repo(cluster.dir() + "/repos", "src");
  git::TestRepo other(cluster.dir() + "/repos", "other");
  std::string c1 = repo.Commit("first commit");
  other.Commit("other one");
  ASSERT_TRUE(cluster.StartController({"--material-poll-interval", "1s"}).ok());
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents());
  absl::Status applied = cluster.ApplyConfig(
      absl::StrCat("format_version: 10\n"
                   "pipelines:\n"
                   "  filtered:\n"
                   "    group: e2e\n"
                   "    materials:\n"
                   "      src:\n"
                   "        git: ",
                   repo.url(),
                   "\n"
                   "        branch: main\n"
                   "        destination: src\n"
                   "        ignore: [\"docs/**\", \"*.md\"]\n"
                   "      other:\n"
                   "        git: ",
                   other.url(),
                   "\n"
                   "        branch: main\n"
                   "        destination: other\n"
                   "        ignore_for_scheduling: true\n"
                   "    stages:\n      - build:\n          jobs:\n            show:\n",
                   ShowCheckoutJob("src", "SRC")));
  ASSERT_TRUE(applied.ok()) << applied;
  ASSERT_TRUE(cluster.WaitForRunState("filtered/1", "passed", kDeadline)) << cluster.LogTails();
  auto run = cluster.ShowRun("filtered/1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(Material(*run, "src")->revision(), c1);

  repo.Commit("docs only", "docs/guide.txt", "read me\n");
  repo.Commit("notes only", "NOTES.md", "notes\n");
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster.ControllerLog(),
                                 "change only files its filter leaves out; not triggered");
      },
      kDeadline, absl::Milliseconds(50)))
      << cluster.LogTails();
  EXPECT_FALSE(cluster.ShowRun("filtered/2").ok());

  std::string c4 = repo.Commit("code", "main.c", "int main() { return 0; }\n");
  ASSERT_TRUE(cluster.WaitForRunState("filtered/2", "passed", kDeadline)) << cluster.LogTails();
  run = cluster.ShowRun("filtered/2");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->cause().kind(), "material");
  EXPECT_EQ(Material(*run, "src")->revision(), c4);
  // The commits since the last build, the skipped ones too (newest first).
  std::vector<std::string> messages;
  for (const auto& c : Material(*run, "src")->commits()) messages.push_back(c.message());
  EXPECT_EQ(messages, (std::vector<std::string>{"code", "notes only", "docs only"}));
  // `other` never triggered: its first poll would have made a run of its own.
  EXPECT_FALSE(cluster.ShowRun("filtered/3").ok());
}

}  // namespace
}  // namespace gantry::e2e
