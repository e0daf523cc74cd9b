// The CLI against a fake OperatorService on 127.0.0.1:0: the bearer token is
// sent, JSON output parses, `trigger --wait` exit statuses, `job log
// --follow`, and how refused tokens and config errors are shown.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/test_util.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kToken[] = "s3cret-token";

v1::PipelineRun MakeRun(const std::string& state, const std::string& job_state,
                        const std::string& second_stage_state = "not_run") {
  v1::PipelineRun run;
  run.set_pipeline("build");
  run.set_counter(7);
  run.set_label("7");
  run.set_state(state);
  auto* stage = run.add_stages();
  stage->set_name("compile");
  stage->set_counter(1);
  stage->set_approval("success");
  stage->set_state(job_state == "passed"   ? "passed"
                   : job_state == "failed" ? "failed"
                                           : "building");
  auto* job = stage->add_jobs();
  job->set_name("make");
  job->set_state(job_state);
  job->set_agent_name("agent-1");
  auto* deploy = run.add_stages();
  deploy->set_name("deploy");
  deploy->set_approval("manual");
  deploy->set_state(second_stage_state);
  return run;
}

class FakeOperator final : public v1::OperatorService::Service {
 public:
  // Runs GetPipelineRun returns, one per call; the last one repeats.
  void SetRuns(std::vector<v1::PipelineRun> runs) {
    absl::MutexLock lock(&mu_);
    runs_.assign(runs.begin(), runs.end());
  }
  // The next `n` GetPipelineRun calls fail with UNAVAILABLE (-1: all).
  void FailRunReads(int n) {
    absl::MutexLock lock(&mu_);
    failing_reads_ = n;
  }
  std::vector<std::string> authorizations() {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }
  v1::TriggerPipelineRequest last_trigger() {
    absl::MutexLock lock(&mu_);
    return last_trigger_;
  }

  grpc::Status ListPipelines(grpc::ServerContext* ctx,
                             const v1::ListPipelinesRequest*,
                             v1::ListPipelinesResponse* response) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    auto* p = response->add_pipelines();
    p->set_name("build");
    p->set_group("main");
    p->set_latest_counter(7);
    p->set_latest_label("1.0.7");
    p->set_latest_state("passed");
    auto* q = response->add_pipelines();
    q->set_name("deploy");
    q->set_paused(true);
    return grpc::Status::OK;
  }

  grpc::Status TriggerPipeline(grpc::ServerContext* ctx,
                               const v1::TriggerPipelineRequest* request,
                               v1::PipelineRun* run) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    {
      absl::MutexLock lock(&mu_);
      last_trigger_ = *request;
    }
    if (request->pipeline() != "build") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no pipeline named '" + request->pipeline() + "'");
    }
    *run = MakeRun("building", "scheduled");
    return grpc::Status::OK;
  }

  grpc::Status GetPipelineRun(grpc::ServerContext* ctx,
                              const v1::GetPipelineRunRequest* request,
                              v1::PipelineRun* run) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    if (failing_reads_ != 0) {
      if (failing_reads_ > 0) --failing_reads_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    }
    if (runs_.empty()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "none");
    *run = runs_.front();
    if (runs_.size() > 1) runs_.pop_front();
    return grpc::Status::OK;
  }

  grpc::Status ApplyConfig(grpc::ServerContext* ctx,
                           const v1::ApplyConfigRequest* request,
                           v1::ApplyConfigResponse* response) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    for (const auto& f : request->files()) {
      if (f.content().find("old bad") != std::string::npos) {
        // A controller from before errors came in the response.
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            f.path() + ":1:1: first problem\n" + f.path() +
                                ":3:5: second problem\n");
      }
      if (f.content().find("bad") != std::string::npos) {
        if (!request->check_only()) {
          return grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              "config has 1002 errors; the first: " + f.path() + ":1:1: first problem");
        }
        for (int line : {1, 3}) {
          v1::ConfigError* e = response->add_errors();
          e->set_file(f.path());
          e->set_line(line);
          e->set_column(line == 1 ? 1 : 5);
          e->set_message(line == 1 ? "first problem" : "second problem");
        }
        response->set_more_errors(1000);
        return grpc::Status::OK;
      }
    }
    response->set_revision(5);
    response->set_diff("--- a\n+++ b\n+x: 1");
    return grpc::Status::OK;
  }

  grpc::Status GetJobLog(grpc::ServerContext* ctx,
                         const v1::GetJobLogRequest* request,
                         v1::GetJobLogResponse* response) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    // Serves 4 bytes per call; every other call returns nothing, as if the
    // job had not written more yet. Complete once all is read.
    static const std::string kLog = "line one\nline two\n";
    absl::MutexLock lock(&mu_);
    ++log_calls_;
    int64_t offset = request->offset();
    if (log_calls_ % 2 == 0 && offset < static_cast<int64_t>(kLog.size())) {
      response->set_next_offset(offset);
      response->set_state("running");
      return grpc::Status::OK;
    }
    std::string chunk = kLog.substr(std::min<size_t>(offset, kLog.size()), 4);
    response->set_data(chunk);
    response->set_next_offset(offset + chunk.size());
    bool done = offset + chunk.size() >= kLog.size();
    response->set_complete(done);
    response->set_state(done ? "passed" : "running");
    return grpc::Status::OK;
  }

  grpc::Status ListAgents(grpc::ServerContext* ctx,
                          const v1::ListAgentsRequest*,
                          v1::ListAgentsResponse* response) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    auto* a = response->add_agents();
    a->set_id("a-1");
    a->set_name("agent-1");
    a->set_status("idle");
    a->add_resources("linux");
    a->add_resources("docker");
    return grpc::Status::OK;
  }

  grpc::Status UpdateAgent(grpc::ServerContext* ctx,
                           const v1::UpdateAgentRequest* request,
                           v1::Agent* agent) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    agent->set_id("a-1");
    agent->set_name(request->agent());
    agent->set_status(request->action() == "disable" ? "disabled" : "idle");
    return grpc::Status::OK;
  }

 private:
  grpc::Status Auth(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    std::string value = it == ctx->client_metadata().end()
                            ? ""
                            : std::string(it->second.data(), it->second.size());
    absl::MutexLock lock(&mu_);
    authorizations_.push_back(value);
    if (value != std::string("Bearer ") + kToken) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token");
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  std::deque<v1::PipelineRun> runs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  v1::TriggerPipelineRequest last_trigger_ ABSL_GUARDED_BY(mu_);
  int log_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int failing_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    options_.poll_interval = absl::Milliseconds(5);
    options_.env = testing::MapEnv(
        {{"GANTRY_CONTROLLER", "127.0.0.1:" + std::to_string(port_)},
         {"GANTRY_TOKEN", kToken},
         {"GANTRY_DATA_DIR", "/nonexistent"},
         {"GANTRY_INSECURE", "1"}});
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  CliResult Run(const std::vector<std::string>& args) {
    return testing::RunGantry(args, options_);
  }

  FakeOperator service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  CliOptions options_;
};

// Every call carries `authorization: Bearer <token>`.
TEST_F(FakeOperatorTest, SendsBearerToken) {
  CliResult r = Run({"pipeline", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(service_.authorizations(),
            std::vector<std::string>{std::string("Bearer ") + kToken});
  EXPECT_EQ(r.out,
            "NAME    GROUP  LATEST     STATE   PAUSED\n"
            "build   main   7 (1.0.7)  passed  no\n"
            "deploy  -      -          -       yes\n");
}

// A token the controller refuses is one line naming where it came from.
TEST_F(FakeOperatorTest, RefusedTokenIsOneLine) {
  CliResult r = Run({"--token", "wrong", "agent", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "gantry: the controller refused the token (from --token: invalid "
            "token)\n");
}

// -o json prints one document that parses back into the response message,
// with default values present.
TEST_F(FakeOperatorTest, JsonOutputParses) {
  CliResult r = Run({"-o", "json", "pipeline", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::ListPipelinesResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok())
      << r.out;
  ASSERT_EQ(parsed.pipelines_size(), 2);
  EXPECT_EQ(parsed.pipelines(0).latest_counter(), 7);
  EXPECT_THAT(r.out, HasSubstr("\"paused\": false"));

  // Global flags may also follow the verb.
  CliResult after = Run({"agent", "list", "-o", "json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  v1::ListAgentsResponse agents;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(after.out, &agents).ok());
  EXPECT_EQ(agents.agents(0).name(), "agent-1");
}

// Trigger sends overrides and prints the run it created.
TEST_F(FakeOperatorTest, TriggerSendsOverrides) {
  CliResult r = Run({"pipeline", "trigger", "build", "--revision",
                     "repo=abc123", "--var", "FOO=a=b", "--var", "EMPTY="});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "triggered build/7\n");
  v1::TriggerPipelineRequest sent = service_.last_trigger();
  EXPECT_EQ(sent.revisions().at("repo"), "abc123");
  ASSERT_EQ(sent.variables_size(), 2);
  EXPECT_EQ(sent.variables(0).name(), "FOO");
  EXPECT_EQ(sent.variables(0).value(), "a=b");
  EXPECT_EQ(sent.variables(1).value(), "");

  CliResult missing = Run({"pipeline", "trigger", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "gantry: no pipeline named 'nope'\n");
}

// --wait exits 0 when the run passes and prints each change once.
TEST_F(FakeOperatorTest, TriggerWaitPassed) {
  service_.SetRuns({MakeRun("building", "running"),
                    MakeRun("building", "running"),
                    MakeRun("passed", "passed", "passed")});
  CliResult r = Run({"pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "triggered build/7\n"
            "build/7/compile: building\n"
            "build/7/compile/make: scheduled\n"
            "build/7/compile/make: running on agent-1\n"
            "build/7/compile/make: passed\n"
            "build/7/compile: passed\n"
            "build/7/deploy: passed\n"
            "build/7 passed\n");
}

// --wait exits 1 when the run fails.
TEST_F(FakeOperatorTest, TriggerWaitFailed) {
  service_.SetRuns(
      {MakeRun("building", "running"), MakeRun("failed", "failed")});
  CliResult r = Run({"pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("build/7 failed\n"));
  EXPECT_EQ(r.err, "");
}

// --wait exits 3 when the run stops at a manual gate, and says how to go on.
TEST_F(FakeOperatorTest, TriggerWaitAwaitingApproval) {
  service_.SetRuns(
      {MakeRun("awaiting_approval", "passed", "awaiting_approval")});
  CliResult r = Run({"pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("build/7 is waiting for approval of stage deploy "
                        "(gantry stage approve build/7/deploy)\n"));
}

// --wait rides out a controller restart: it notes the outage once on
// stderr and carries on when the controller answers again.
TEST_F(FakeOperatorTest, TriggerWaitRetriesWhileUnavailable) {
  service_.SetRuns({MakeRun("passed", "passed", "passed")});
  service_.FailRunReads(3);
  CliResult r = Run({"pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "gantry: cannot reach controller at 127.0.0.1:" +
                       std::to_string(port_) + ": restarting (retrying)\n");
  EXPECT_THAT(r.out, HasSubstr("build/7 passed\n"));
}

// ... but gives up with exit 1 once the outage outlasts the retry budget.
TEST_F(FakeOperatorTest, TriggerWaitGivesUpAfterRetryBudget) {
  service_.SetRuns({MakeRun("passed", "passed", "passed")});
  service_.FailRunReads(-1);
  options_.retry_budget = absl::Milliseconds(100);
  CliResult r = Run({"pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> lines = r.ErrLines();
  ASSERT_EQ(lines.size(), 2u) << r.err;
  EXPECT_THAT(lines[0], ::testing::EndsWith("restarting (retrying)"));
  EXPECT_THAT(lines[1], StartsWith("gantry: cannot reach controller at "));
}

// With -o json, --wait prints only the final run as one JSON document.
TEST_F(FakeOperatorTest, TriggerWaitJson) {
  service_.SetRuns(
      {MakeRun("building", "running"), MakeRun("failed", "failed")});
  CliResult r = Run({"-o", "json", "pipeline", "trigger", "build", "--wait"});
  EXPECT_EQ(r.exit_code, 1);
  v1::PipelineRun run;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &run).ok())
      << r.out;
  EXPECT_EQ(run.state(), "failed");
}

// --follow reads from offset 0 until the log is complete, polling through
// empty answers; without it, what is stored now is printed.
TEST_F(FakeOperatorTest, JobLogFollow) {
  CliResult r = Run({"job", "log", "build/7/compile/make", "--follow"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "line one\nline two\n");

  CliResult json =
      Run({"-o", "json", "job", "log", "build/7/compile/1/make", "-f"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  v1::GetJobLogResponse log;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &log).ok());
  EXPECT_EQ(log.data(), "line one\nline two\n");
  EXPECT_TRUE(log.complete());
}

// A refused config shows the controller's errors, from its check_only answer
// (or, from an older controller, its status message), exit 1.
TEST_F(FakeOperatorTest, ConfigApplyErrorsAreShownPerLine) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/x.yaml";
  ASSERT_TRUE(WriteFileAtomic(path, "bad: config\n").ok());
  CliResult r = Run({"config", "apply", "-f", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            path + ":1:1: first problem\n" + path + ":3:5: second problem\nand 1000 more errors\n");

  ASSERT_TRUE(WriteFileAtomic(path, "old bad: config\n").ok());
  CliResult old = Run({"config", "apply", "-f", path});
  EXPECT_EQ(old.exit_code, 1);
  EXPECT_EQ(old.err, path + ":1:1: first problem\n" + path + ":3:5: second problem\n");

  ASSERT_TRUE(WriteFileAtomic(path, "good: config\n").ok());
  CliResult ok = Run({"config", "apply", "-f", path});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "config revision 5 applied\n--- a\n+++ b\n+x: 1\n");
}

// Agent verbs report the agent's new status.
TEST_F(FakeOperatorTest, AgentDisable) {
  CliResult r = Run({"agent", "disable", "agent-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "agent agent-1 (a-1) disabled, now disabled\n");
  CliResult list = Run({"agent", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out,
              StartsWith("NAME     ID   STATUS  BUILDING  RESOURCES"));
  EXPECT_THAT(list.out, HasSubstr("linux, docker"));
}

}  // namespace
}  // namespace gantry::cli
