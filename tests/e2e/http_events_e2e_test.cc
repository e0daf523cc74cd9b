// Live events over HTTP (GET /api/v1/events, Server-Sent Events) against a
// real controller and agent: a run's changes reach a viewer as they commit,
// only viewers who may see the pipeline get them, a job's console streams to
// whoever follows it, agents' changes reach those watching agents, and the
// same checks as the API refuse strangers.
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
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
  groups:
    team-a:
      view: {roles: [readers]}
      operate: {users: [alice]}
    team-b:
      operate: {users: [bob]}
pipelines:
  a:
    group: team-a
    stages:
      - build:
          jobs:
            j:
              tasks:
                # Waits for the test to say go, so its output is seen live.
                - exec:
                    command: sh
                    arguments:
                      - -c
                      - "echo hello from a; while [ ! -f GO_FILE ]; do sleep 0.05; done; echo second line"
  b:
    group: team-b
    stages:
      - build: {jobs: {j: {tasks: [{exec: {command: "true"}}]}}}
)";

// The JSON object under `key` in an event's data ({"at":..,"run":{...}}).
std::string Member(const std::string& data, const std::string& key) {
  size_t at = data.find(absl::StrCat("\"", key, "\":"));
  if (at == std::string::npos) return "";
  return data.substr(at + key.size() + 3, data.size() - (at + key.size() + 3) - 1);
}

class HttpEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController({"--http-listen", "127.0.0.1:0", "--http-plaintext"}).ok())
        << cluster_.LogTails();
    auto addr = ReadFile(cluster_.data_dir() + "/http.addr");
    ASSERT_TRUE(addr.ok()) << cluster_.LogTails();
    http_ = std::string(absl::StripAsciiWhitespace(*addr));
    go_file_ = cluster_.dir() + "/go";
    ASSERT_TRUE(cluster_.ApplyConfig(absl::StrReplaceAll(kConfig, {{"GO_FILE", go_file_}})).ok())
        << cluster_.LogTails();
    for (const char* user : {"root", "vera", "alice", "bob"}) {
      CliResult r = cluster_.Cli({"token", "create", "--user", user, "--name", "http"});
      ASSERT_EQ(r.exit_code, 0) << r.ToString();
      tokens_[user] = std::string(absl::StripAsciiWhitespace(r.out));
    }
    ASSERT_TRUE(cluster_.StartAgent({.name = "worker"}).ok());
    ASSERT_TRUE(cluster_.WaitForIdleAgents());
  }

  std::unique_ptr<SseClient> Open(const std::string& who, const std::string& target) {
    auto c = SseClient::Open(http_, target, {"Authorization: Bearer " + tokens_[who]});
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_EQ((*c)->status(), 200) << target;
    auto ready = (*c)->Next(absl::Now() + absl::Seconds(30));
    EXPECT_TRUE(ready.ok() && ready->event == "ready") << ready.status();
    return std::move(*c);
  }

  HttpResponse Post(const std::string& who, const std::string& target) {
    auto r = HttpRequest(http_, "POST", target, "", {"Authorization: Bearer " + tokens_[who]});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  Cluster cluster_;
  std::string go_file_;
  std::string http_;
  std::map<std::string, std::string> tokens_;
};

// A viewer sees a triggered run change live until it passes and follows
// its job's console while it runs; a viewer of another group gets none of it.
TEST_F(HttpEventsTest, RunChangesAndConsoleReachOnlyThoseWhoMayView) {
  auto vera = Open("vera", "/api/v1/events");
  auto bob = Open("bob", "/api/v1/events");
  ASSERT_TRUE(vera && bob);

  ASSERT_EQ(Post("alice", "/api/v1/pipelines/a/trigger").status, 200);
  std::vector<std::string> states;
  int64_t attempt = 0;
  // Reads vera's run events until `done` says so.
  auto follow_run = [&](const std::function<bool(const v1::PipelineRun&)>& done) {
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (true) {
      auto ev = vera->Next(deadline);
      ASSERT_TRUE(ev.ok()) << ev.status() << "; states so far: " << states.size()
                           << cluster_.LogTails();
      if (ev->event != "run") continue;
      v1::PipelineRun run;
      ASSERT_TRUE(ParseJson(Member(ev->data, "run"), &run)) << ev->data;
      EXPECT_EQ(run.pipeline(), "a");
      EXPECT_TRUE(absl::StrContains(ev->data, "\"at\":")) << ev->data;
      states.push_back(run.state());
      if (done(run)) return;
    }
  };
  follow_run([&](const v1::PipelineRun& run) {
    if (run.stages_size() == 0 || run.stages(0).jobs_size() == 0) return false;
    attempt = run.stages(0).jobs(0).attempt_id();
    return run.stages(0).jobs(0).state() == "running";
  });
  ASSERT_GT(attempt, 0);
  EXPECT_EQ(states.front(), "building");

  // The job's console, followed from its start while it runs.
  auto console = Open("vera", absl::StrCat("/api/v1/events?attempt=", attempt,
                                           "&pipeline=a&counter=1&stage=build&job=j&offset=0"));
  ASSERT_TRUE(console);
  std::string text;
  bool complete = false;
  auto read_console = [&](const std::string& until) {
    while (!complete && !absl::StrContains(text, until)) {
      auto ev = console->Next(absl::Now() + absl::Seconds(30));
      ASSERT_TRUE(ev.ok()) << ev.status() << "; text so far: " << text;
      if (ev->event != "console") continue;
      v1::GetJobLogResponse log;
      ASSERT_TRUE(ParseJson(Member(ev->data, "log"), &log)) << ev->data;
      text += log.data();
      complete = log.complete();
    }
  };
  read_console("hello from a\n");
  EXPECT_FALSE(complete);
  // (The task's own command line, echoed first, holds the words too.)
  EXPECT_FALSE(absl::StrContains(text, "\nsecond line\n")) << text;
  // Let the job finish: the rest of its output and the run's end arrive.
  ASSERT_TRUE(WriteFileAtomic(go_file_, "go\n", 0644).ok());
  read_console("\nsecond line\n");
  EXPECT_TRUE(absl::StrContains(text, "hello from a\nsecond line\n")) << text;
  follow_run([](const v1::PipelineRun& run) { return run.state() == "passed"; });

  // Bob's stream carries b's run but never a's: a's events were all sent
  // before b was triggered, so any would have come first.
  ASSERT_EQ(Post("bob", "/api/v1/pipelines/b/trigger").status, 200);
  while (true) {
    auto ev = bob->Next(absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(ev.ok()) << ev.status();
    if (ev->event != "run") continue;
    v1::PipelineRun run;
    ASSERT_TRUE(ParseJson(Member(ev->data, "run"), &run)) << ev->data;
    ASSERT_EQ(run.pipeline(), "b") << "bob was sent a run of a pipeline he may not view";
    break;
  }
}

// Those watching agents get the list when they start watching and when an
// agent changes; strangers and viewers of other pipelines are refused.
TEST_F(HttpEventsTest, AgentChangesAndRefusals) {
  auto watcher = Open("vera", "/api/v1/events?agents=1");
  ASSERT_TRUE(watcher);
  auto first = watcher->Next(absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->event, "agents");
  EXPECT_TRUE(absl::StrContains(first->data, "\"name\":\"worker\"")) << first->data;

  ASSERT_EQ(Post("root", "/api/v1/agents/worker/disable").status, 200);
  bool disabled = false;
  while (!disabled) {
    auto ev = watcher->Next(absl::Now() + absl::Seconds(30));
    ASSERT_TRUE(ev.ok()) << ev.status();
    disabled = ev->event == "agents" && absl::StrContains(ev->data, "\"status\":\"disabled\"");
  }

  auto anonymous = SseClient::Open(http_, "/api/v1/events", {});
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ((*anonymous)->status(), 401);
  auto other =
      SseClient::Open(http_, "/api/v1/events?attempt=1&pipeline=a&counter=1&stage=build&job=j",
                      {"Authorization: Bearer " + tokens_["bob"]});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->status(), 403);
}

}  // namespace
}  // namespace gantry::e2e
