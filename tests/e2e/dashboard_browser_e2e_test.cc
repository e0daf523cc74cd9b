// End-to-end: the dashboard in a real browser. Starts a real controller
// (HTTP on a port of its own) and agent on a real PostgreSQL, then runs
// tests/browser/dashboard.test.mjs with Node: Playwright drives Debian's
// chromium through sign-in, a run turning green live, the console
// streaming, approve for an allowed user and not for a viewer, and pause
// with its reason. The pages' screenshots go to the build directory, or to
// docs/screenshots/ with GANTRY_UPDATE_SCREENSHOTS=1 (docs/dashboard.md).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr char kConfig[] = R"yaml(format_version: 10
security:
  roles:
    viewers: [vera]
  groups:
    build: {view: {roles: [viewers]}}
    release: {view: {roles: [viewers]}}
environments:
  production:
    pipelines: [deploy]
pipelines:
  quick:
    group: build
    stages:
      - build: {jobs: {compile: {tasks: [{exec: {command: "true"}}]}}}
  console:
    group: build
    environment_variables: {GREETING: "hello"}
    stages:
      - print:
          jobs:
            print:
              tasks:
                - exec:
                    command: /bin/sh
                    arguments:
                      - -c
                      - echo $$ > 'TASK_PIDS/console'; echo "$GREETING"; while [ ! -f 'RELEASE_FILE' ]; do sleep 0.05; done; echo "second $((1 + 1))"
  deploy:
    group: release
    materials:
      quick: {pipeline: quick, stage: build}
    stages:
      - prepare: {jobs: {prepare: {tasks: [{exec: {command: "true"}}]}}}
      - production:
          approval: manual
          deploys: true
          jobs: {ship: {tasks: [{exec: {command: "true"}}]}}
)yaml";

std::string Trimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
}

TEST(DashboardBrowserE2eTest, DashboardWorksInChromium) {
  const std::string browser_dir = GANTRY_BROWSER_TESTS;
  ASSERT_TRUE(std::filesystem::exists(browser_dir + "/node_modules/playwright-core"))
      << "run `npm ci` in " << browser_dir << " (deploy/test.sh does)";
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController({"--http-listen", "127.0.0.1:0"}).ok()) << cluster.LogTails();
  // agent-0 builds; agent-1 is the one in `production`, where deploy runs.
  ASSERT_TRUE(cluster.StartAgent().ok());
  AgentOptions in_production;
  in_production.environments = {"production"};
  ASSERT_TRUE(cluster.StartAgent(in_production).ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  const std::string release_file = cluster.dir() + "/release-console";
  absl::Status applied = cluster.ApplyConfig(
      absl::StrReplaceAll(kConfig, {{"RELEASE_FILE", release_file},
                                    // A failed run's waiting job is killed with the cluster.
                                    {"TASK_PIDS", cluster.task_pid_dir()}}));
  ASSERT_TRUE(applied.ok()) << applied;
  CliResult viewer = cluster.Cli({"token", "create", "--user", "vera", "--name", "browser"});
  ASSERT_EQ(viewer.exit_code, 0) << viewer.ToString();

  const char* update = std::getenv("GANTRY_UPDATE_SCREENSHOTS");
  std::string shots = update != nullptr && std::string(update) == "1"
                          ? std::string(GANTRY_SOURCE_DIR) + "/docs/screenshots"
                          : std::string(GANTRY_BINARY_DIR) + "/screenshots";

  RunOptions options;
  options.timeout = absl::Minutes(4);
  options.working_dir = browser_dir;
  options.kill_on_parent_death = true;
  absl::StatusOr<RunResult> run =
      RunCommand({"/usr/bin/env",
                  absl::StrCat("GANTRY_HTTP=https://", Trimmed(cluster.data_dir() + "/http.addr")),
                  // Node's fetch verifies the controller with its CA.
                  absl::StrCat("NODE_EXTRA_CA_CERTS=", cluster.ca_file()),
                  absl::StrCat("GANTRY_ADMIN_TOKEN=", Trimmed(cluster.admin_token_file())),
                  absl::StrCat("GANTRY_VIEWER_TOKEN=", absl::StripAsciiWhitespace(viewer.out)),
                  absl::StrCat("GANTRY_RELEASE_FILE=", release_file),
                  absl::StrCat("GANTRY_SCREENSHOTS=", shots), "node", "--test",
                  "--test-concurrency=1", "dashboard.test.mjs"},
                 options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->Describe() << "\n"
                               << run->out << run->err << cluster.LogTails();
  for (const char* page : {"pipelines", "run", "approval", "value-stream", "environments", "agents",
                           "pipelines-phone"}) {
    EXPECT_TRUE(std::filesystem::exists(absl::StrCat(shots, "/", page, ".png"))) << page;
  }
}

}  // namespace
}  // namespace gantry::e2e
