// End-to-end: a git material's credentials as a secure value
// (docs/materials.md, "Credentials"). The repository is served by `git
// http-backend` behind basic auth on loopback (testdata/git_http_server.py);
// the material names `username` and `encrypted_password` (from `gantry
// secret encrypt`). The controller's mirror fetch and the agent's checkout
// both get in; the password is in no log, console, stored URL or git config.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/git/test_repo.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(60);
constexpr char kUser[] = "builder";
constexpr char kPassword[] = "pw-7e3a9c41d2";

std::string Pipeline(const std::string& name, const std::string& url,
                     const std::string& ciphertext) {
  return absl::StrCat("  ", name,
                      ":\n"
                      "    group: e2e\n"
                      "    materials:\n"
                      "      src:\n"
                      "        git: ",
                      url,
                      "\n"
                      "        branch: main\n"
                      "        username: ",
                      kUser,
                      "\n"
                      "        encrypted_password: \"",
                      ciphertext,
                      "\"\n"
                      "        destination: code\n"
                      "    stages:\n"
                      "      - build:\n"
                      "          jobs:\n"
                      "            show:\n"
                      "              tasks:\n"
                      "                - exec:\n"
                      "                    command: /bin/sh\n"
                      "                    arguments: [\"-c\", \"echo head=$(git -C code rev-parse "
                      "HEAD); git -C code config --list --show-origin; cat code/README\"]\n");
}

// Every file under `dir` whose text holds `needle` (git configs, mirrors).
std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec || !it->is_regular_file() || it->file_size() > (1 << 20)) continue;
    auto text = ReadFile(it->path().string());
    if (text.ok() && absl::StrContains(*text, needle)) found.push_back(it->path().string());
  }
  return found;
}

TEST(GitCredentialsE2eTest, SecurePasswordFetchesAndChecksOutWithoutLeaking) {
  Cluster cluster("git_credentials");
  const std::string root = cluster.dir() + "/repos";
  git::TestRepo app(root, "app");
  git::TestRepo other(root, "other");
  std::string c1 = app.Commit("private commit");
  other.Commit("other commit");
  const std::string port_file = cluster.dir() + "/git-http.port";
  SpawnOptions spawn;
  spawn.log_path = cluster.dir() + "/logs/git-http.log";
  auto server =
      ChildProcess::Spawn({"python3", std::string(GANTRY_E2E_TESTDATA) + "/git_http_server.py",
                           root, kUser, kPassword, port_file},
                          spawn);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(port_file); }, kDeadline));
  auto port = ReadFile(port_file);
  ASSERT_TRUE(port.ok());
  const std::string base =
      absl::StrCat("http://127.0.0.1:", absl::StripAsciiWhitespace(*port), "/");

  ASSERT_TRUE(cluster.StartController({"--material-poll-interval", "1s"}).ok())
      << cluster.LogTails();
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents());
  CliResult enc = cluster.Cli({"secret", "encrypt"}, absl::Seconds(60), kPassword);
  ASSERT_EQ(enc.exit_code, 0) << enc.ToString();
  std::string ciphertext(absl::StripAsciiWhitespace(enc.out));
  ASSERT_TRUE(absl::StartsWith(ciphertext, "AES256GCM:")) << enc.out;
  CliResult wrong = cluster.Cli({"secret", "encrypt"}, absl::Seconds(60), "not-the-password");
  ASSERT_EQ(wrong.exit_code, 0) << wrong.ToString();

  absl::Status applied = cluster.ApplyConfig(absl::StrCat(
      "format_version: 10\npipelines:\n", Pipeline("private", base + "app.git", ciphertext),
      Pipeline("denied", base + "other.git", std::string(absl::StripAsciiWhitespace(wrong.out)))));
  ASSERT_TRUE(applied.ok()) << applied;

  // The controller's poll got in (the run has the commit), and so did the
  // agent's checkout.
  ASSERT_TRUE(cluster.WaitForRunState("private/1", "passed", kDeadline)) << cluster.LogTails();
  auto run = cluster.ShowRun("private/1");
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->cause().materials_size(), 1);
  EXPECT_EQ(run->cause().materials(0).revision(), c1);
  auto log = cluster.JobLog("private/1/build/show");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "head=" + c1)) << *log;
  EXPECT_TRUE(absl::StrContains(*log, "private commit")) << *log;

  // The wrong password: refused by the server, reported without it.
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(cluster.ControllerLog(), "Authentication failed"); },
              kDeadline))
      << cluster.LogTails();
  EXPECT_FALSE(cluster.ShowRun("denied/1").ok());

  // Nowhere in clear: logs, the console, the stored config, git's files.
  EXPECT_FALSE(absl::StrContains(*log, kPassword)) << *log;
  EXPECT_FALSE(absl::StrContains(cluster.ControllerLog(), kPassword));
  EXPECT_FALSE(absl::StrContains(cluster.AgentLog(0), kPassword));
  EXPECT_FALSE(absl::StrContains(cluster.ControllerLog(), "not-the-password"));
  CliResult shown = cluster.Cli({"config", "show"});
  ASSERT_EQ(shown.exit_code, 0) << shown.ToString();
  EXPECT_TRUE(absl::StrContains(shown.out, ciphertext)) << shown.out;
  EXPECT_FALSE(absl::StrContains(shown.out, kPassword));
  EXPECT_EQ(FilesHolding(cluster.data_dir() + "/materials", kPassword), std::vector<std::string>{});
  EXPECT_EQ(FilesHolding(cluster.agent_work_dir(0), kPassword), std::vector<std::string>{});
}

}  // namespace
}  // namespace gantry::e2e
