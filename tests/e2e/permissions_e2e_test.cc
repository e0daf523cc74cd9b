// Who may do what, end to end: every operator RPC called as anonymous, with
// an agent's token, as a viewer, as operators of two groups and as the
// admin, against a real controller; then the audit log of a scenario.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <functional>
#include <map>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "common/files.h"
#include "gantry/v1/operator.grpc.pb.h"
#include "tests/e2e/harness.h"

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
  a-deploy:
    group: team-a
    stages:
      - deploy: {jobs: {j: {tasks: [{exec: {command: "true"}}]}}}
environments:
  prod:
    pipelines: [a-deploy]
    deployers: {users: [root]}
)";

// What a call may come back with, for a caller.
enum class Expect { kAllowed, kDenied, kUnauthenticated };

const char* Name(Expect e) {
  switch (e) {
    case Expect::kAllowed:
      return "allowed";
    case Expect::kDenied:
      return "PERMISSION_DENIED";
    case Expect::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "?";
}

Expect Classify(const grpc::Status& st) {
  if (st.error_code() == grpc::StatusCode::PERMISSION_DENIED) return Expect::kDenied;
  if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED) return Expect::kUnauthenticated;
  return Expect::kAllowed;  // OK, or refused for another reason (not a gate of identity)
}

class PermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController().ok()) << cluster_.LogTails();
    ASSERT_TRUE(cluster_.ApplyConfig(kConfig).ok()) << cluster_.LogTails();
    auto channel = grpc::CreateChannel(cluster_.controller_addr(), cluster_.ChannelCredentials());
    stub_ = v1::OperatorService::NewStub(channel);
    auto admin = ReadFile(cluster_.admin_token_file());
    ASSERT_TRUE(admin.ok());
    tokens_["admin"] = std::string(absl::StripAsciiWhitespace(*admin));
    for (const char* user : {"root", "vera", "alice", "bob", "spare"}) {
      CliResult r = cluster_.Cli({"token", "create", "--user", user, "--name", "matrix"});
      ASSERT_EQ(r.exit_code, 0) << r.ToString();
      tokens_[user] = std::string(absl::StripAsciiWhitespace(r.out));
    }
  }

  grpc::Status Call(const std::string& who,
                    const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (who != "anonymous") ctx.AddMetadata("authorization", "Bearer " + tokens_[who]);
    return call(&ctx);
  }

  Cluster cluster_;
  std::unique_ptr<v1::OperatorService::Stub> stub_;
  std::map<std::string, std::string> tokens_;
};

TEST_F(PermissionsTest, EveryOperatorCallChecksTheCaller) {
  // An agent's own token is no operator token.
  auto agent = cluster_.StartAgent({.name = "worker"});
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(cluster_.WaitForIdleAgents());
  auto identity = ReadFile(cluster_.agent_work_dir(*agent) + "/agent.json");
  ASSERT_TRUE(identity.ok());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*identity, m, std::regex("\"token\":\\s*\"([^\"]+)\"")));
  tokens_["agent"] = m[1];
  // A run of `a` waiting at its manual gate, for the stage calls.
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "a"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("a/1", "awaiting_approval")) << cluster_.LogTails();
  auto show = cluster_.ShowRun("a/1");
  ASSERT_TRUE(show.ok());

  using A = Expect;
  const A kU = A::kUnauthenticated, kD = A::kDenied, kOk = A::kAllowed;
  struct Row {
    std::string rpc;
    std::function<grpc::Status(grpc::ClientContext*)> call;
    // anonymous, agent, vera (viewer of A), alice (operator of A),
    // bob (operator of B), root (admin)
    std::vector<A> expected;
  };
  v1::StageRequest ship;
  ship.set_pipeline("a");
  ship.set_counter(1);
  ship.set_stage("ship");
  v1::StageRequest build_b;
  build_b.set_pipeline("b");
  build_b.set_counter(1);
  build_b.set_stage("build");
  std::vector<Row> rows = {
      {"WhoAmI", [&](auto* c) { v1::WhoAmIResponse r; return stub_->WhoAmI(c, {}, &r); },
       {kU, kU, kOk, kOk, kOk, kOk}},
      {"ApplyConfig", [&](auto* c) {
         v1::ApplyConfigRequest q;
         auto* f = q.add_files();
         f->set_path("p.gocd.yaml");
         f->set_content(kConfig);
         v1::ApplyConfigResponse r;
         return stub_->ApplyConfig(c, q, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"ApplyConfig check_only", [&](auto* c) {
         v1::ApplyConfigRequest q;
         q.set_check_only(true);
         auto* f = q.add_files();
         f->set_path("p.gocd.yaml");
         f->set_content(kConfig);
         v1::ApplyConfigResponse r;
         return stub_->ApplyConfig(c, q, &r);
       }, {kU, kU, kOk, kOk, kOk, kOk}},
      {"ShowConfig", [&](auto* c) { v1::ShowConfigResponse r; return stub_->ShowConfig(c, {}, &r); },
       {kU, kU, kD, kD, kD, kOk}},
      {"ListPipelines", [&](auto* c) {
         v1::ListPipelinesResponse r;
         return stub_->ListPipelines(c, {}, &r);
       }, {kU, kU, kOk, kOk, kOk, kOk}},
      {"TriggerPipeline b", [&](auto* c) {
         v1::TriggerPipelineRequest q;
         q.set_pipeline("b");
         v1::PipelineRun r;
         return stub_->TriggerPipeline(c, q, &r);
       }, {kU, kU, kD, kD, kOk, kOk}},
      {"TriggerPipeline a-deploy (environment prod)", [&](auto* c) {
         v1::TriggerPipelineRequest q;
         q.set_pipeline("a-deploy");
         v1::PipelineRun r;
         return stub_->TriggerPipeline(c, q, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"PipelineHistory a", [&](auto* c) {
         v1::PipelineHistoryRequest q;
         q.set_pipeline("a");
         v1::PipelineHistoryResponse r;
         return stub_->PipelineHistory(c, q, &r);
       }, {kU, kU, kOk, kOk, kD, kOk}},
      {"GetPipelineRun a/1", [&](auto* c) {
         v1::GetPipelineRunRequest q;
         q.set_pipeline("a");
         q.set_counter(1);
         v1::PipelineRun r;
         return stub_->GetPipelineRun(c, q, &r);
       }, {kU, kU, kOk, kOk, kD, kOk}},
      {"CancelStage b/1/build", [&](auto* c) {
         v1::PipelineRun r;
         return stub_->CancelStage(c, build_b, &r);
       }, {kU, kU, kD, kD, kOk, kOk}},
      {"ApproveStage a/1/ship", [&](auto* c) {
         v1::PipelineRun r;
         return stub_->ApproveStage(c, ship, &r);
       }, {kU, kU, kD, kOk, kD, kOk}},
      {"GetJobLog a/1/build/j", [&](auto* c) {
         v1::GetJobLogRequest q;
         q.set_pipeline("a");
         q.set_counter(1);
         q.set_stage("build");
         q.set_job("j");
         v1::GetJobLogResponse r;
         return stub_->GetJobLog(c, q, &r);
       }, {kU, kU, kOk, kOk, kD, kOk}},
      {"ListArtifacts a/1/build/j", [&](auto* c) {
         v1::ArtifactRequest q;
         q.set_pipeline("a");
         q.set_counter(1);
         q.set_stage("build");
         q.set_job("j");
         v1::ListArtifactsResponse r;
         return stub_->ListArtifacts(c, q, &r);
       }, {kU, kU, kOk, kOk, kD, kOk}},
      {"GetArtifact a/1/build/j", [&](auto* c) {
         v1::ArtifactRequest q;
         q.set_pipeline("a");
         q.set_counter(1);
         q.set_stage("build");
         q.set_job("j");
         auto reader = stub_->GetArtifact(c, q);
         v1::ArtifactStreamChunk chunk;
         while (reader->Read(&chunk)) {
         }
         return reader->Finish();
       }, {kU, kU, kOk, kOk, kD, kOk}},
      {"ListAgents", [&](auto* c) { v1::ListAgentsResponse r; return stub_->ListAgents(c, {}, &r); },
       {kU, kU, kOk, kOk, kOk, kOk}},
      {"UpdateAgent", [&](auto* c) {
         v1::UpdateAgentRequest q;
         q.set_agent("worker");
         q.set_action("enable");
         v1::Agent r;
         return stub_->UpdateAgent(c, q, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"CreateToken (own)", [&](auto* c) {
         v1::CreateTokenResponse r;
         return stub_->CreateToken(c, {}, &r);
       }, {kU, kU, kOk, kOk, kOk, kOk}},
      {"CreateToken (for another user)", [&](auto* c) {
         v1::CreateTokenRequest q;
         q.set_user("mallory");
         v1::CreateTokenResponse r;
         return stub_->CreateToken(c, q, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"ListTokens (own)", [&](auto* c) {
         v1::ListTokensResponse r;
         return stub_->ListTokens(c, {}, &r);
       }, {kU, kU, kOk, kOk, kOk, kOk}},
      {"ListTokens (all)", [&](auto* c) {
         v1::ListTokensRequest q;
         q.set_all(true);
         v1::ListTokensResponse r;
         return stub_->ListTokens(c, q, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"ListAudit", [&](auto* c) { v1::ListAuditResponse r; return stub_->ListAudit(c, {}, &r); },
       {kU, kU, kD, kD, kD, kOk}},
      {"CreateAgentKey", [&](auto* c) {
         v1::CreateAgentKeyResponse r;
         return stub_->CreateAgentKey(c, {}, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
      {"ListAgentKeys", [&](auto* c) {
         v1::ListAgentKeysResponse r;
         return stub_->ListAgentKeys(c, {}, &r);
       }, {kU, kU, kD, kD, kD, kOk}},
  };
  const std::vector<std::string> callers = {"anonymous", "agent", "vera", "alice", "bob", "root"};
  for (const Row& row : rows) {
    for (size_t i = 0; i < callers.size(); ++i) {
      grpc::Status st = Call(callers[i], row.call);
      EXPECT_EQ(Classify(st), row.expected[i])
          << row.rpc << " as " << callers[i] << ": expected " << Name(row.expected[i])
          << ", got code " << st.error_code() << " (" << st.error_message() << ")";
      if (Classify(st) == A::kDenied) {
        EXPECT_EQ(st.error_message().find('\n'), std::string::npos) << st.error_message();
        EXPECT_FALSE(st.error_message().empty()) << row.rpc << " as " << callers[i];
      }
    }
  }
}

TEST_F(PermissionsTest, ListingShowsOnlyWhatTheCallerMayView) {
  std::map<std::string, std::vector<std::string>> seen;
  for (const char* who : {"vera", "alice", "bob", "root"}) {
    v1::ListPipelinesResponse r;
    ASSERT_TRUE(Call(who, [&](auto* c) { return stub_->ListPipelines(c, {}, &r); }).ok());
    for (const auto& p : r.pipelines()) seen[who].push_back(p.name());
  }
  EXPECT_EQ(seen["vera"], (std::vector<std::string>{"a", "a-deploy"}));
  EXPECT_EQ(seen["alice"], (std::vector<std::string>{"a", "a-deploy"}));
  EXPECT_EQ(seen["bob"], (std::vector<std::string>{"b"}));
  EXPECT_EQ(seen["root"], (std::vector<std::string>{"a", "a-deploy", "b"}));
}

TEST_F(PermissionsTest, TokensAreShownOnceStoredHashedAndRevocable) {
  // whoami through the CLI, with a token of one's own.
  std::string file = cluster_.WriteFile("alice.token", tokens_["alice"] + "\n");
  CliResult who = cluster_.Cli({"--token-file", file, "whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.ToString();
  EXPECT_NE(who.out.find("alice"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("team-a-ops"), std::string::npos) << who.out;
  // Nothing in the database holds the token itself.
  CliResult list = cluster_.Cli({"-o", "json", "token", "list", "--all"});
  ASSERT_EQ(list.exit_code, 0) << list.ToString();
  EXPECT_EQ(list.out.find(tokens_["alice"]), std::string::npos);
  // The spare user's token works until revoked, then is UNAUTHENTICATED.
  v1::WhoAmIResponse me;
  ASSERT_TRUE(Call("spare", [&](auto* c) { return stub_->WhoAmI(c, {}, &me); }).ok());
  // Alice may not revoke someone else's token; she may revoke her own.
  v1::RevokeTokenRequest other;
  other.set_id(me.token().id());
  v1::Token revoked;
  EXPECT_EQ(Call("alice", [&](auto* c) { return stub_->RevokeToken(c, other, &revoked); })
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  CliResult revoke = cluster_.Cli({"token", "revoke", std::to_string(me.token().id())});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.ToString();
  EXPECT_EQ(Call("spare", [&](auto* c) { return stub_->WhoAmI(c, {}, &me); }).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // An unknown token through the CLI: one line, non-zero exit.
  std::string bad = cluster_.WriteFile("bad.token", "gantry_nope\n");
  CliResult refused = cluster_.Cli({"--token-file", bad, "pipeline", "list"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
}

TEST_F(PermissionsTest, AnExpiredTokenIsRefused) {
  v1::CreateTokenRequest q;
  q.set_expires_in_seconds(1);
  v1::CreateTokenResponse created;
  ASSERT_TRUE(Call("alice", [&](auto* c) { return stub_->CreateToken(c, q, &created); }).ok());
  tokens_["short"] = created.token();
  EXPECT_TRUE(WaitFor([&] {
    v1::WhoAmIResponse r;
    return Call("short", [&](auto* c) { return stub_->WhoAmI(c, {}, &r); }).error_code() ==
           grpc::StatusCode::UNAUTHENTICATED;
  }, absl::Seconds(10)));
}

TEST_F(PermissionsTest, TheAuditLogHoldsEveryActionOfAScenario) {
  auto agent = cluster_.StartAgent({.name = "worker"});
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(cluster_.WaitForIdleAgents());
  std::string alice = cluster_.WriteFile("alice.token", tokens_["alice"] + "\n");
  ASSERT_EQ(cluster_.Cli({"--token-file", alice, "pipeline", "trigger", "a"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("a/1", "awaiting_approval")) << cluster_.LogTails();
  ASSERT_EQ(cluster_.Cli({"--token-file", alice, "stage", "approve", "a/1/ship"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("a/1", "passed")) << cluster_.LogTails();
  // A refused action is recorded too.
  EXPECT_NE(cluster_.Cli({"--token-file", alice, "pipeline", "trigger", "b"}).exit_code, 0);
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "b"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    auto run = cluster_.ShowRun("b/1");
    return run.ok() && run->stages(0).jobs_size() > 0 && run->stages(0).jobs(0).state() == "running";
  }, absl::Seconds(30), kCliPoll));
  CliResult cancel = cluster_.Cli({"stage", "cancel", "b/1/build"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.ToString();
  ASSERT_EQ(cluster_.Cli({"agent", "disable", "worker"}).exit_code, 0);
  ASSERT_EQ(cluster_.Cli({"agent", "enable", "worker"}).exit_code, 0);
  CliResult token = cluster_.Cli({"token", "create", "--user", "carol"});
  ASSERT_EQ(token.exit_code, 0);

  struct Want {
    std::string actor, action, target, outcome;
  };
  std::vector<Want> wants = {
      {"admin", "config.apply", "config", "ok"},
      {"admin", "token.create", "user:alice", "ok"},
      {"alice", "pipeline.trigger", "a", "ok"},
      {"alice", "stage.approve", "a/1/ship", "ok"},
      {"alice", "pipeline.trigger", "b", "denied"},
      {"admin", "pipeline.trigger", "b", "ok"},
      {"admin", "stage.cancel", "b/1/build", "ok"},
      {"admin", "agent.disable", "agent:worker", "ok"},
      {"admin", "agent.enable", "agent:worker", "ok"},
      {"admin", "token.create", "user:carol", "ok"},
  };
  v1::ListAuditResponse audit;
  bool all_there = WaitFor([&] {
    CliResult r = cluster_.Cli({"-o", "json", "audit"});
    if (r.exit_code != 0 || !ParseJson(r.out, &audit)) return false;
    for (const Want& w : wants) {
      bool found = false;
      for (const auto& e : audit.entries()) {
        found |= e.actor() == w.actor && e.action() == w.action && e.target() == w.target &&
                 e.outcome() == w.outcome && !e.source().empty();
      }
      if (!found) return false;
    }
    return true;
  }, absl::Seconds(30), kCliPoll);
  EXPECT_TRUE(all_there) << audit.DebugString();
  // Registration of the agent is there too, and the filters work.
  CliResult mine = cluster_.Cli({"-o", "json", "audit", "--actor", "alice", "--pipeline", "a"});
  ASSERT_EQ(mine.exit_code, 0) << mine.ToString();
  v1::ListAuditResponse filtered;
  ASSERT_TRUE(ParseJson(mine.out, &filtered));
  ASSERT_EQ(filtered.entries_size(), 2) << filtered.DebugString();
  // No API edits the log, and the database itself refuses to.
  pqxx::connection db(cluster_.database_url());
  for (const char* sql : {"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log",
                          "TRUNCATE audit_log"}) {
    pqxx::work tx(db);
    EXPECT_THROW(tx.exec(sql), pqxx::sql_error) << sql;
  }
  pqxx::work tx(db);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM audit_log WHERE actor = 'mallory'")[0][0].as<int>(), 0);
}

}  // namespace
}  // namespace gantry::e2e
