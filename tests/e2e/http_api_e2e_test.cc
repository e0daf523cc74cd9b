// The controller's HTTP JSON API (docs/api.md), end to end: every route
// called anonymously, as a viewer, as operators of two groups and as the
// admin against a real controller, with the same outcomes as over gRPC
// (permissions_e2e_test); the JSON is the CLI's; errors are JSON with the
// matching HTTP status; sign-in gives an HttpOnly SameSite=Strict cookie and
// POSTs with it need the CSRF header; the audit log names the HTTP caller.
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/wait_for.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/http_client.h"

namespace gantry::e2e {
namespace {

constexpr char kConfig[] = R"(
format_version: 10
security:
  admins: {users: [root]}
  roles:
    readers: [vera]
    team-a-ops: [alice]
  groups:
    team-a:
      view: {roles: [readers]}
      operate: {roles: [team-a-ops]}
    team-b:
      operate: {users: [bob]}
    team-c:
      operate: {users: [root]}
pipelines:
  a:
    group: team-a
    stages:
      - build: {jobs: {j: {tasks: [{exec: {command: "true"}}]}}}
      - ship:
          approval: manual
          jobs: {j: {tasks: [{exec: {command: "true"}}]}}
  b:
    group: team-b
    stages:
      - build: {jobs: {j: {tasks: [{exec: {command: sleep, arguments: ["60"]}}]}}}
  c:
    group: team-c
    stages:
      - make:
          jobs:
            j:
              artifacts: [{build: {source: out.txt}}]
              tasks: [{exec: {command: /bin/sh, arguments: [-c, "echo built > out.txt"]}}]
      - use:
          jobs:
            j: {tasks: [{fetch: {stage: make, job: j, source: out.txt, is_file: true}}]}
environments:
  prod:
    pipelines: [b]
)";

enum class Expect { kAllowed, kDenied, kUnauthenticated };

Expect Classify(int status) {
  if (status == 401) return Expect::kUnauthenticated;
  if (status == 403) return Expect::kDenied;
  return Expect::kAllowed;
}

const char* Name(Expect e) {
  switch (e) {
    case Expect::kAllowed:
      return "allowed";
    case Expect::kDenied:
      return "403";
    case Expect::kUnauthenticated:
      return "401";
  }
  return "?";
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController({"--http-listen", "127.0.0.1:0", "--http-plaintext"}).ok())
        << cluster_.LogTails();
    auto addr = ReadFile(cluster_.data_dir() + "/http.addr");
    ASSERT_TRUE(addr.ok()) << cluster_.LogTails();
    http_ = std::string(absl::StripAsciiWhitespace(*addr));
    ASSERT_TRUE(cluster_.ApplyConfig(kConfig).ok()) << cluster_.LogTails();
    auto admin = ReadFile(cluster_.admin_token_file());
    ASSERT_TRUE(admin.ok());
    tokens_["admin"] = std::string(absl::StripAsciiWhitespace(*admin));
    for (const char* user : {"root", "vera", "alice", "bob"}) {
      CliResult r = cluster_.Cli({"token", "create", "--user", user, "--name", "http"});
      ASSERT_EQ(r.exit_code, 0) << r.ToString();
      tokens_[user] = std::string(absl::StripAsciiWhitespace(r.out));
    }
  }

  HttpResponse Call(const std::string& who, const std::string& method, const std::string& target,
                    const std::string& body = "") {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (who != "anonymous") headers.push_back("Authorization: Bearer " + tokens_[who]);
    auto r = HttpRequest(http_, method, target, body, headers);
    EXPECT_TRUE(r.ok()) << method << " " << target << ": " << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  Cluster cluster_;
  std::string http_;
  std::map<std::string, std::string> tokens_;
};

// Every route checks the caller exactly as the operator service does over
// gRPC, and refusals are one-line JSON errors with 401 / 403.
TEST_F(HttpApiTest, EveryRouteChecksTheCaller) {
  ASSERT_TRUE(cluster_.StartAgent({.name = "worker"}).ok());
  ASSERT_TRUE(cluster_.WaitForIdleAgents());
  // a/1 waits at its manual gate, for the stage routes.
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "a"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("a/1", "awaiting_approval")) << cluster_.LogTails();

  const Expect kU = Expect::kUnauthenticated, kD = Expect::kDenied, kOk = Expect::kAllowed;
  struct Row {
    std::string method, target, body;
    // anonymous, vera (viewer of a), alice (operator of a), bob (operator
    // of b), root (admin)
    std::vector<Expect> expected;
  };
  const std::string job = "/api/v1/pipelines/a/runs/1/stages/build/jobs/j";
  std::string check_config =
      absl::StrCat(R"({"checkOnly": true, "files": [{"path": "p.gocd.yaml", "content": )",
                   "\"format_version: 10\\npipelines: {}\\n\"", "}]}");
  std::vector<Row> rows = {
      {"GET", "/api/v1/whoami", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/pipelines", "", {kU, kOk, kOk, kOk, kOk}},
      {"POST", "/api/v1/pipelines/b/trigger", "{}", {kU, kD, kD, kOk, kOk}},
      {"GET", "/api/v1/pipelines/a/runs?limit=5", "", {kU, kOk, kOk, kD, kOk}},
      {"GET", "/api/v1/pipelines/a/runs/1", "", {kU, kOk, kOk, kD, kOk}},
      {"GET", "/api/v1/pipelines/a/runs/latest", "", {kU, kOk, kOk, kD, kOk}},
      {"GET", "/api/v1/pipelines/a/runs/1/vsm", "", {kU, kOk, kOk, kD, kOk}},
      {"POST", "/api/v1/pipelines/b/runs/1/stages/build/cancel", "", {kU, kD, kD, kOk, kOk}},
      {"POST",
       "/api/v1/pipelines/a/runs/1/stages/ship/approve",
       R"({"comment": "ok"})",
       {kU, kD, kOk, kD, kOk}},
      {"POST", "/api/v1/pipelines/a/runs/1/stages/build/rerun", "", {kU, kD, kOk, kD, kOk}},
      {"GET", job + "/log?offset=0", "", {kU, kOk, kOk, kD, kOk}},
      {"GET", job + "/artifacts", "", {kU, kOk, kOk, kD, kOk}},
      {"POST", "/api/v1/pipelines/a/pause", R"({"reason": "maintenance"})", {kU, kD, kOk, kD, kOk}},
      {"POST", "/api/v1/pipelines/a/unpause", "", {kU, kD, kOk, kD, kOk}},
      {"POST", "/api/v1/pipelines/a/unlock", "", {kU, kD, kOk, kD, kOk}},
      {"GET", "/api/v1/agents", "", {kU, kOk, kOk, kOk, kOk}},
      {"POST", "/api/v1/agents/worker/disable", "", {kU, kD, kD, kD, kOk}},
      {"POST", "/api/v1/agents/worker/enable", "", {kU, kD, kD, kD, kOk}},
      {"POST",
       "/api/v1/agents/worker",
       R"({"resources": {"values": ["linux"]}})",
       {kU, kD, kD, kD, kOk}},
      {"DELETE", "/api/v1/agents/nobody", "", {kU, kD, kD, kD, kOk}},
      {"GET", "/api/v1/agent-keys", "", {kU, kD, kD, kD, kOk}},
      {"POST", "/api/v1/agent-keys", R"({"name": "k1"})", {kU, kD, kD, kD, kOk}},
      {"DELETE", "/api/v1/agent-keys/nokey", "", {kU, kD, kD, kD, kOk}},
      {"GET", "/api/v1/environments", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/environments/prod", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/environments/prod/history", "", {kU, kOk, kOk, kOk, kOk}},
      {"POST",
       "/api/v1/environments/prod/rollback",
       R"({"reason": "bad release"})",
       {kU, kD, kD, kOk, kOk}},
      {"GET", "/api/v1/versions?environment=prod", "", {kU, kOk, kOk, kOk, kOk}},
      {"POST",
       "/api/v1/environments/prod/versions/b/1/clear",
       R"({"reason": "fixed"})",
       {kU, kD, kD, kOk, kOk}},
      {"POST",
       "/api/v1/materials/notify",
       R"({"url": "https://example.org/none.git"})",
       {kU, kOk, kOk, kOk, kOk}},
      {"POST", "/api/v1/secrets/encrypt", R"({"value": "s3cret"})", {kU, kOk, kOk, kOk, kOk}},
      {"POST", "/api/v1/secrets/rotate-key", "", {kU, kD, kD, kD, kOk}},
      {"GET", "/api/v1/config", "", {kU, kD, kD, kD, kOk}},
      {"POST", "/api/v1/config", check_config, {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/config/repos", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/tokens", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/tokens?all=true", "", {kU, kD, kD, kD, kOk}},
      {"POST", "/api/v1/tokens", R"({"name": "mine"})", {kU, kOk, kOk, kOk, kOk}},
      {"POST", "/api/v1/tokens", R"({"user": "mallory"})", {kU, kD, kD, kD, kOk}},
      {"DELETE", "/api/v1/tokens/999999", "", {kU, kOk, kOk, kOk, kOk}},
      {"GET", "/api/v1/audit", "", {kU, kD, kD, kD, kOk}},
  };
  const std::vector<std::string> callers = {"anonymous", "vera", "alice", "bob", "root"};
  for (const Row& row : rows) {
    for (size_t i = 0; i < callers.size(); ++i) {
      HttpResponse r = Call(callers[i], row.method, row.target, row.body);
      EXPECT_EQ(Classify(r.status), row.expected[i])
          << row.method << " " << row.target << " as " << callers[i] << ": expected "
          << Name(row.expected[i]) << ", got " << r.ToString();
      EXPECT_EQ(r.headers["content-type"], "application/json") << row.target;
      if (r.status >= 400) {
        // {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "..."}}
        EXPECT_TRUE(absl::StartsWith(r.body, absl::StrCat("{\"error\":{\"code\":", r.status, ",")))
            << r.body;
        EXPECT_EQ(r.body.find('\n'), std::string::npos) << r.body;
      }
    }
  }
}

// The JSON is the CLI's `-o json` document; statuses follow the gRPC code;
// unknown paths, methods and fields are JSON errors too.
TEST_F(HttpApiTest, JsonMatchesTheCliAndErrorsMapToHttpStatuses) {
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "b"}).exit_code, 0);
  auto cli = cluster_.ShowRun("b/1");
  ASSERT_TRUE(cli.ok()) << cli.status();
  HttpResponse r = Call("root", "GET", "/api/v1/pipelines/b/runs/1");
  ASSERT_EQ(r.status, 200) << r.ToString();
  v1::PipelineRun over_http;
  ASSERT_TRUE(ParseJson(r.body, &over_http)) << r.body;
  EXPECT_EQ(over_http.pipeline(), "b");
  EXPECT_EQ(over_http.counter(), 1);
  EXPECT_EQ(over_http.cause().user(), cli->cause().user());
  EXPECT_EQ(over_http.stages_size(), cli->stages_size());
  // Every field is printed, camelCase, as `-o json` does.
  EXPECT_TRUE(absl::StrContains(r.body, "\"configRevision\":")) << r.body;

  struct Case {
    std::string method, target, body;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"GET", "/api/v1/pipelines/nope/runs/1", "", 404, "NOT_FOUND"},
      {"GET", "/api/v1/pipelines/b/runs/x", "", 400, "INVALID_ARGUMENT"},
      {"POST", "/api/v1/pipelines/b/trigger", "{not json", 400, "INVALID_ARGUMENT"},
      {"POST", "/api/v1/pipelines/b/trigger", R"({"bogus": 1})", 400, "INVALID_ARGUMENT"},
      {"GET", "/api/v1/pipelines?bogus=1", "", 400, "INVALID_ARGUMENT"},
      // b/1 holds its only stage; approving it again is a refused precondition.
      {"POST", "/api/v1/pipelines/b/runs/1/stages/build/approve", "", 400, "FAILED_PRECONDITION"},
      {"GET", "/api/v1/no/such/route", "", 404, "NOT_FOUND"},
      {"PUT", "/api/v1/pipelines", "", 405, "METHOD_NOT_ALLOWED"},
  };
  for (const Case& c : cases) {
    HttpResponse e = Call("root", c.method, c.target, c.body);
    EXPECT_EQ(e.status, c.status) << c.method << " " << c.target << ": " << e.ToString();
    EXPECT_TRUE(absl::StrContains(e.body, absl::StrCat("\"status\":\"", c.code, "\"")))
        << c.method << " " << c.target << ": " << e.ToString();
  }
}

// Sign-in sets the token as an HttpOnly SameSite=Strict cookie; a POST with
// that cookie needs the CSRF header echoing the CSRF cookie; the audit log
// records the action with the HTTP caller's address.
TEST_F(HttpApiTest, CookieSessionNeedsCsrfHeaderAndIsAudited) {
  HttpResponse bad = Call("anonymous", "POST", "/api/v1/session", R"({"token": "gantry_nope"})");
  EXPECT_EQ(bad.status, 401) << bad.ToString();
  EXPECT_EQ(bad.headers.count("set-cookie"), 0u);
  HttpResponse form = *HttpRequest(http_, "POST", "/api/v1/session", "token=" + tokens_["bob"],
                                   {"Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(form.status, 415) << form.ToString();

  HttpResponse in = Call("anonymous", "POST", "/api/v1/session",
                         absl::StrCat(R"({"token": ")", tokens_["bob"], R"("})"));
  ASSERT_EQ(in.status, 200) << in.ToString();
  EXPECT_TRUE(absl::StrContains(in.body, "\"user\":\"bob\"")) << in.body;
  std::string cookies = in.headers["set-cookie"];
  EXPECT_TRUE(absl::StrContains(
      cookies, "gantry_session=" + tokens_["bob"] + "; Path=/; HttpOnly; SameSite=Strict"))
      << cookies;
  size_t at = cookies.find("gantry_csrf=");
  ASSERT_NE(at, std::string::npos) << cookies;
  std::string csrf = cookies.substr(at + 12, cookies.find(';', at) - at - 12);
  ASSERT_EQ(csrf.size(), 32u) << cookies;
  std::string cookie =
      absl::StrCat("Cookie: gantry_session=", tokens_["bob"], "; gantry_csrf=", csrf);

  // Reads need no CSRF header.
  HttpResponse me = *HttpRequest(http_, "GET", "/api/v1/whoami", "", {cookie});
  EXPECT_EQ(me.status, 200) << me.ToString();
  // A POST without the header, with a wrong one, from another origin: refused.
  for (const std::vector<std::string>& headers :
       {std::vector<std::string>{cookie},
        std::vector<std::string>{cookie, "X-Gantry-CSRF: " + std::string(32, '0')},
        std::vector<std::string>{cookie, "X-Gantry-CSRF: " + csrf,
                                 "Origin: http://evil.example"}}) {
    HttpResponse r = *HttpRequest(http_, "POST", "/api/v1/pipelines/b/trigger", "", headers);
    EXPECT_EQ(r.status, 403) << r.ToString();
  }
  HttpResponse none = Call("root", "GET", "/api/v1/pipelines/b/runs");
  EXPECT_EQ(none.body, "{\"runs\":[]}") << none.ToString();
  // With it, the trigger goes through, as bob.
  HttpResponse ok = *HttpRequest(http_, "POST", "/api/v1/pipelines/b/trigger", "",
                                 {cookie, "X-Gantry-CSRF: " + csrf, "Origin: http://" + http_});
  ASSERT_EQ(ok.status, 200) << ok.ToString();
  EXPECT_TRUE(absl::StrContains(ok.body, "\"user\":\"bob\"")) << ok.body;

  // The audit row names bob and the HTTP caller's address. Audit rows are
  // written after the answer, so wait for it (with a deadline).
  HttpResponse audit;
  WaitFor(
      [&] {
        audit = Call("root", "GET", "/api/v1/audit?actor=bob");
        return audit.status == 200 && absl::StrContains(audit.body, "pipeline.trigger");
      },
      absl::Seconds(10));
  ASSERT_EQ(audit.status, 200) << audit.ToString();
  EXPECT_TRUE(absl::StrContains(audit.body, "\"action\":\"pipeline.trigger\"")) << audit.body;
  EXPECT_TRUE(absl::StrContains(audit.body, "\"source\":\"http:127.0.0.1:")) << audit.body;

  // Signing out clears both cookies.
  HttpResponse out =
      *HttpRequest(http_, "DELETE", "/api/v1/session", "", {cookie, "X-Gantry-CSRF: " + csrf});
  EXPECT_EQ(out.status, 200) << out.ToString();
  EXPECT_TRUE(absl::StrContains(out.headers["set-cookie"], "gantry_session=; Path=/; Max-Age=0"))
      << out.headers["set-cookie"];
}

// The dashboard is served from the binary, with a policy that allows only
// the controller's own scripts; /metrics speaks Prometheus' text format;
// permissions tell the dashboard which actions to show.
TEST_F(HttpApiTest, DashboardMetricsAndPermissionsAreServed) {
  for (const char* path : {"/", "/ui/runs/a/1", "/ui/agents"}) {
    HttpResponse page = *HttpRequest(http_, "GET", path);
    EXPECT_EQ(page.status, 200) << path;
    EXPECT_TRUE(absl::StartsWith(page.headers["content-type"], "text/html")) << path;
    EXPECT_TRUE(absl::StrContains(page.headers["content-security-policy"], "default-src 'self'"));
    EXPECT_TRUE(absl::StrContains(page.body, "/static/app.js")) << page.body;
  }
  HttpResponse js = *HttpRequest(http_, "GET", "/static/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_TRUE(absl::StrContains(js.body, "EventSource")) << js.body.substr(0, 200);
  EXPECT_EQ(HttpRequest(http_, "GET", "/static/nope.js")->status, 404);

  EXPECT_EQ(Call("vera", "GET", "/api/v1/whoami").status, 200);
  HttpResponse metrics = *HttpRequest(http_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.body, "# TYPE gantry_http_requests_total counter"));
  EXPECT_TRUE(absl::StrContains(
      metrics.body,
      "gantry_http_requests_total{code=\"200\",method=\"GET\",route=\"/api/v1/whoami\"}"))
      << metrics.body;
  EXPECT_TRUE(absl::StrContains(
      metrics.body,
      "gantry_grpc_requests_total{code=\"0\",method=\"/gantry.v1.OperatorService/WhoAmI\"}"))
      << metrics.body;
  EXPECT_TRUE(absl::StrContains(metrics.body, "gantry_agents{state=\"idle\"}")) << metrics.body;
  // b's job needs an agent in `prod`, and there is none: it waits for that
  // reason, which the scheduler's next tick counts.
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "b"}).exit_code, 0);
  std::string body;
  EXPECT_TRUE(WaitFor(
      [&] {
        body = HttpRequest(http_, "GET", "/metrics")->body;
        return absl::StrContains(body, "gantry_queue_depth{reason=\"no_matching_agent\"} 1\n");
      },
      absl::Seconds(30), absl::Milliseconds(100)))
      << body;
  EXPECT_TRUE(absl::StrContains(body, "gantry_queue_depth{reason=\"agents_busy\"} 0\n")) << body;
  // The only controller on its database leads, at the lease's first epoch.
  EXPECT_TRUE(absl::StrContains(body, "gantry_leader 1\n")) << body;
  EXPECT_TRUE(absl::StrContains(body, "gantry_lease_epoch 1\n")) << body;

  HttpResponse vera = Call("vera", "GET", "/api/v1/permissions");
  ASSERT_EQ(vera.status, 200) << vera.ToString();
  EXPECT_EQ(vera.body,
            R"({"user":"vera","admin":false,"pipelines":{"a":{"operate":false,"trigger":false}}})");
  HttpResponse bob = Call("bob", "GET", "/api/v1/permissions");
  EXPECT_EQ(bob.body,
            R"({"user":"bob","admin":false,"pipelines":{"b":{"operate":true,"trigger":true}}})");
  EXPECT_EQ(Call("anonymous", "GET", "/api/v1/permissions").status, 401);
}

// Artifact bytes through the controller, both ways: c/1 uploads out.txt
// ("built\n", 6 bytes) and its second stage fetches it back.
TEST_F(HttpApiTest, MetricsCountArtifactBytes) {
  ASSERT_TRUE(cluster_.StartAgent().ok());
  ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();
  CliResult run = cluster_.Cli({"pipeline", "trigger", "c", "--wait"});
  ASSERT_EQ(run.exit_code, 0) << run.ToString() << cluster_.LogTails();
  HttpResponse metrics = *HttpRequest(http_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.body, "# TYPE gantry_artifact_bytes_total counter"));
  EXPECT_TRUE(absl::StrContains(metrics.body, "gantry_artifact_bytes_total{direction=\"in\"} 6\n"))
      << metrics.body;
  EXPECT_TRUE(absl::StrContains(metrics.body, "gantry_artifact_bytes_total{direction=\"out\"} 6\n"))
      << metrics.body;
}

}  // namespace
}  // namespace gantry::e2e
