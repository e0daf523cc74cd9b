// End-to-end: push webhooks (docs/materials.md, "Webhooks") through the real
// controller's HTTP listener, with bare repositories reached by file://
// URLs. Every material has `auto_update: false` and the poll interval is the
// default minute, so a run can only come from a delivery that was accepted.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/git/test_repo.h"
#include "controller/materials/push_webhook.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/http_client.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(60);
constexpr char kSecret[] = "hook-s3cret-4f1d";

std::string Pipeline(const std::string& name, const std::string& url) {
  return absl::StrCat(
      "  ", name,
      ":\n"
      "    group: e2e\n"
      "    materials:\n"
      "      src:\n"
      "        git: ",
      url,
      "\n"
      "        branch: main\n"
      "        auto_update: false\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            show:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments: [\"-c\", \"echo rev=$GANTRY_REVISION_SRC\"]\n");
}

std::string GitHubPush(const std::string& clone_url) {
  return absl::StrCat(R"({"ref":"refs/heads/main","after":"0","repository":{"clone_url":")",
                      clone_url, R"(","html_url":"https://example.invalid/app"}})");
}

class WebhooksE2eTest : public ::testing::Test {
 protected:
  HttpResponse Post(const std::string& provider, const std::string& body,
                    std::vector<std::string> headers) {
    headers.push_back("Content-Type: application/json");
    auto r = HttpRequest(http_, "POST", "/api/v1/webhooks/" + provider, body, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  Cluster cluster_{"webhooks"};
  std::string http_;
};

// GitHub, GitLab and Gitea deliveries: a signed push fetches at once and
// triggers the pipeline of that repository; a ping does nothing; a delivery
// without a signature (401), with a wrong one or the wrong token (403)
// triggers nothing. Each is audited; the secret is in no log or audit row.
TEST_F(WebhooksE2eTest, SignedPushTriggersAndBadSignatureIsRefused) {
  git::TestRepo app(cluster_.dir() + "/repos", "app");
  git::TestRepo lib(cluster_.dir() + "/repos", "lib");
  git::TestRepo web(cluster_.dir() + "/repos", "web");
  std::string a1 = app.Commit("app one");
  std::string l1 = lib.Commit("lib one");
  std::string w1 = web.Commit("web one");
  std::string secret_file = cluster_.WriteFile("webhook.secret", absl::StrCat(kSecret, "\n"));
  ASSERT_TRUE(cluster_
                  .StartController({"--http-listen", "127.0.0.1:0", "--http-plaintext",
                                    "--webhook-secret-file", secret_file})
                  .ok())
      << cluster_.LogTails();
  auto addr = ReadFile(cluster_.data_dir() + "/http.addr");
  ASSERT_TRUE(addr.ok());
  http_ = std::string(absl::StripAsciiWhitespace(*addr));
  ASSERT_TRUE(cluster_.StartAgent().ok());
  ASSERT_TRUE(cluster_.WaitForIdleAgents());
  absl::Status applied = cluster_.ApplyConfig(
      absl::StrCat("format_version: 10\npipelines:\n", Pipeline("app", app.url()),
                   Pipeline("lib", lib.url()), Pipeline("web", web.url())));
  ASSERT_TRUE(applied.ok()) << applied;

  // A ping, signed: acknowledged, nothing done.
  const std::string ping = R"({"zen":"Keep it logically awesome.","hook_id":1})";
  HttpResponse r =
      Post("github", ping,
           {"X-GitHub-Event: ping", "X-Hub-Signature-256: sha256=" + HmacSha256Hex(kSecret, ping)});
  EXPECT_EQ(r.status, 200) << r.ToString();
  EXPECT_TRUE(absl::StrContains(r.body, "\"ignored\":true")) << r.ToString();

  // Refused deliveries naming app: no signature, a wrong one, a wrong token.
  const std::string app_push = GitHubPush(app.url());
  r = Post("github", app_push, {"X-GitHub-Event: push"});
  EXPECT_EQ(r.status, 401) << r.ToString();
  EXPECT_TRUE(absl::StrContains(r.body, "UNAUTHENTICATED")) << r.ToString();
  r = Post("github", app_push,
           {"X-GitHub-Event: push",
            "X-Hub-Signature-256: sha256=" + HmacSha256Hex("not-the-secret", app_push)});
  EXPECT_EQ(r.status, 403) << r.ToString();
  EXPECT_TRUE(absl::StrContains(r.body, "PERMISSION_DENIED")) << r.ToString();
  r = Post("gitea", app_push,
           {"X-Gitea-Event: push", "X-Gitea-Signature: " + HmacSha256Hex(kSecret, app_push + " ")});
  EXPECT_EQ(r.status, 403) << r.ToString();
  r = Post("gitlab", app_push, {"X-Gitlab-Event: Push Hook", "X-Gitlab-Token: wrong"});
  EXPECT_EQ(r.status, 403) << r.ToString();

  // GitLab, right token: lib fetched and built at once.
  const std::string lib_push =
      absl::StrCat(R"({"object_kind":"push","ref":"refs/heads/main","project":{"git_http_url":")",
                   lib.url(), R"("}})");
  r = Post("gitlab", lib_push,
           {"X-Gitlab-Event: Push Hook", absl::StrCat("X-Gitlab-Token: ", kSecret)});
  EXPECT_EQ(r.status, 202) << r.ToString();
  EXPECT_TRUE(absl::StrContains(r.body, "\"fetching\":1")) << r.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("lib/1", "passed", kDeadline)) << cluster_.LogTails();
  auto run = cluster_.ShowRun("lib/1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->cause().kind(), "material");
  ASSERT_EQ(run->cause().materials_size(), 1);
  EXPECT_EQ(run->cause().materials(0).revision(), l1);

  // Gitea, signed (its URL with a trailing ".git" dropped still matches).
  std::string web_url = web.url();
  web_url.resize(web_url.size() - 4);
  const std::string web_push = GitHubPush(web_url);
  r = Post("gitea", web_push,
           {"X-Gitea-Event: push", "X-Gitea-Signature: " + HmacSha256Hex(kSecret, web_push)});
  EXPECT_EQ(r.status, 202) << r.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("web/1", "passed", kDeadline)) << cluster_.LogTails();
  run = cluster_.ShowRun("web/1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->cause().materials(0).revision(), w1);

  // The refused deliveries for app came before both of those and made no
  // fetch: app never ran.
  EXPECT_FALSE(cluster_.ShowRun("app/1").ok());

  // GitHub, signed: now app runs at its head.
  r = Post(
      "github", app_push,
      {"X-GitHub-Event: push", "X-Hub-Signature-256: sha256=" + HmacSha256Hex(kSecret, app_push)});
  EXPECT_EQ(r.status, 202) << r.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("app/1", "passed", kDeadline)) << cluster_.LogTails();
  run = cluster_.ShowRun("app/1");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->cause().materials(0).revision(), a1);
  auto log = cluster_.JobLog("app/1/build/show");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, "rev=" + a1)) << *log;

  // A repository no material uses: accepted, nothing fetched.
  const std::string other = GitHubPush("https://example.invalid/other.git");
  r = Post(
      "github", other,
      {"X-GitHub-Event: push", "X-Hub-Signature-256: sha256=" + HmacSha256Hex(kSecret, other)});
  EXPECT_EQ(r.status, 202) << r.ToString();
  EXPECT_TRUE(absl::StrContains(r.body, "\"fetching\":0")) << r.ToString();
  // An unknown sender.
  r = Post("bitbucket", other, {});
  EXPECT_EQ(r.status, 404) << r.ToString();

  // Audited (refused ones too), written just after the answer.
  CliResult audit;
  ASSERT_TRUE(WaitFor(
      [&] {
        audit = cluster_.Cli({"audit", "--actor", "webhook:github"});
        return absl::StrContains(audit.out, "example.invalid/other");
      },
      kDeadline, kCliPoll))
      << audit.ToString();
  EXPECT_TRUE(absl::StrContains(audit.out, "material.webhook")) << audit.out;
  EXPECT_TRUE(absl::StrContains(audit.out, "denied")) << audit.out;
  EXPECT_TRUE(absl::StrContains(audit.out, "X-Hub-Signature-256 does not match")) << audit.out;
  CliResult gitlab = cluster_.Cli({"audit", "--actor", "webhook:gitlab"});
  EXPECT_TRUE(absl::StrContains(gitlab.out, "X-Gitlab-Token does not match")) << gitlab.out;
  EXPECT_FALSE(absl::StrContains(gitlab.out, kSecret)) << gitlab.out;
  EXPECT_FALSE(absl::StrContains(audit.out, kSecret)) << audit.out;
  EXPECT_FALSE(absl::StrContains(cluster_.ControllerLog(), kSecret));
}

}  // namespace
}  // namespace gantry::e2e
