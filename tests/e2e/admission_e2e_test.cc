// End-to-end: agent admission (docs/security.md, "Agent admission"). A flood
// of registrations without a valid key is limited and capped, and writes
// nothing past the cap; a scoped register key cannot put an agent in `prod`
// until an admin assigns it, nor by asking again in a later Hello; only
// admins administer agents and keys; names are unique until an agent is
// deleted; a copy of an agent's identity is refused while the agent is
// connected, and its jobs all pass exactly once. Each admission leaves its
// audit row. (A second agent on the same work dir is refused at start:
// identity_lock_test.)
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/process/process.h"
#include "common/testing/wait_for.h"
#include "common/tls/client_tls.h"
#include "common/tls/pki.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"
#include "gantry/v1/agent.grpc.pb.h"
#include "gantry/v1/operator.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(60);

struct Registered {
  grpc::Status status;
  v1::RegisterResponse response;
};

class AdmissionE2eTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--heartbeat-interval", "0.5", "--agent-lost-timeout", "5"});
    absl::Status started = cluster_.StartController(flags);
    ASSERT_TRUE(started.ok()) << started;
    stub_ = v1::AgentService::NewStub(
        grpc::CreateChannel(cluster_.controller_addr(), cluster_.ChannelCredentials()));
  }

  // One raw Register call, as any machine that reaches the port can make.
  Registered Register(const std::string& name, const std::string& key,
                      const std::vector<std::string>& environments = {},
                      const std::string& csr = "") {
    v1::RegisterRequest request;
    request.set_csr(csr);
    request.set_name(name);
    request.set_hostname("flood-host");
    request.set_register_key(key);
    for (const auto& e : environments) request.add_environments(e);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Registered out;
    out.status = stub_->Register(&context, request, &out.response);
    return out;
  }

  std::string BootstrapKey() {
    absl::StatusOr<std::string> key = ReadFile(cluster_.register_key_file());
    EXPECT_TRUE(key.ok()) << key.status();
    return std::string(absl::StripAsciiWhitespace(key.ok() ? *key : ""));
  }

  // What PostgreSQL holds, read directly: the controller's memory is not
  // the proof that nothing was written.
  std::vector<store::AgentRecord> StoredAgents() {
    std::vector<store::AgentRecord> agents;
    absl::Status st = WithDb([&](store::Tx& tx) { agents = tx.Agents(); });
    EXPECT_TRUE(st.ok()) << st;
    return agents;
  }
  std::vector<store::AuditRecord> AuditRows(const std::string& action) {
    std::vector<store::AuditRecord> rows;
    absl::Status st = WithDb([&](store::Tx& tx) {
      store::AuditQuery query;
      query.limit = 10000;
      for (auto& r : tx.ReadAudit(query)) {
        if (r.action == action) rows.push_back(std::move(r));
      }
    });
    EXPECT_TRUE(st.ok()) << st;
    return rows;
  }
  // The audit writer stores within milliseconds, in order: wait for `n` rows.
  std::vector<store::AuditRecord> WaitForAuditRows(const std::string& action, size_t n) {
    std::vector<store::AuditRecord> rows;
    WaitFor(
        [&] {
          rows = AuditRows(action);
          return rows.size() >= n;
        },
        absl::Seconds(10), kCliPoll);
    return rows;
  }
  // The CLI with `token` instead of the admin's (Cluster::Cli always passes
  // the admin's --token-file).
  CliResult CliWithToken(const std::string& token, std::vector<std::string> args) {
    std::vector<std::string> argv = {BinDir() + "/gantry", "--controller",
                                     cluster_.controller_addr(), "--token", token,
                                     "--ca-file", cluster_.ca_file()};
    argv.insert(argv.end(), args.begin(), args.end());
    RunOptions options;
    options.timeout = absl::Seconds(60);
    options.working_dir = cluster_.dir();
    options.kill_on_parent_death = true;
    CliResult result;
    absl::StatusOr<RunResult> run = RunCommand(argv, options);
    if (!run.ok()) {
      result.err = std::string(run.status().message());
      return result;
    }
    result.exit_code = run->term_signal == 0 && !run->timed_out ? run->exit_code : -1;
    result.out = std::move(run->out);
    result.err = std::move(run->err);
    return result;
  }

  absl::Status WithDb(const std::function<void(store::Tx&)>& fn) {
    if (!db_) {
      auto db = store::Db::Connect(cluster_.database_url());
      if (!db.ok()) return db.status();
      db_ = std::move(*db);
    }
    return db_->Run("e2e", [&](store::Tx& tx) {
      fn(tx);
      return absl::OkStatus();
    });
  }

  Cluster cluster_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::unique_ptr<store::Db> db_;
};

int CountCode(const std::vector<Registered>& calls, grpc::StatusCode code) {
  int n = 0;
  for (const auto& c : calls) n += c.status.error_code() == code;
  return n;
}

// Past --max-pending-agents, a registration without a valid key is refused
// with RESOURCE_EXHAUSTED and nothing is stored; an agent with the key still
// gets in, and each admission is an audit row.
TEST_F(AdmissionE2eTest, RegisterFloodIsCappedAndWritesNothingPastTheCap) {
  ASSERT_NO_FATAL_FAILURE(Start({"--max-pending-agents", "5", "--register-rate-per-source", "1000",
                                 "--register-rate-total", "1000"}));
  std::vector<Registered> calls;
  for (int i = 0; i < 60; ++i) calls.push_back(Register(absl::StrCat("flood-", i), "wrong-key"));
  EXPECT_EQ(CountCode(calls, grpc::StatusCode::OK), 5);
  EXPECT_EQ(CountCode(calls, grpc::StatusCode::RESOURCE_EXHAUSTED), 55);
  for (const auto& c : calls) {
    if (c.status.ok()) {
      EXPECT_EQ(c.response.state(), "pending");
    } else {
      EXPECT_TRUE(
          absl::StrContains(c.status.error_message(), "5 agents are already waiting for approval"))
          << c.status.error_message();
    }
  }
  EXPECT_EQ(StoredAgents().size(), 5u);

  // The cap is on pending agents only: the key still admits.
  Registered keyed = Register("with-key", BootstrapKey());
  ASSERT_TRUE(keyed.status.ok()) << keyed.status.error_message();
  EXPECT_EQ(keyed.response.state(), "enabled");
  EXPECT_EQ(StoredAgents().size(), 6u);

  std::vector<store::AuditRecord> rows = WaitForAuditRows("agent.register", 61);
  ASSERT_EQ(rows.size(), 61u);
  int ok = 0, denied = 0;
  for (const auto& r : rows) {
    EXPECT_TRUE(absl::StartsWith(r.source, "ipv")) << r.source;
    if (r.outcome == "ok") ++ok;
    if (r.outcome == "denied") ++denied;
  }
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(denied, 55);
  EXPECT_EQ(rows.back().actor, "agent:with-key");
  EXPECT_EQ(rows.back().target, "agent:with-key");
  EXPECT_TRUE(absl::StrContains(rows.back().reason, "key bootstrap")) << rows.back().reason;
}

// Registrations without a valid key from one address are rate-limited
// before anything else is done for them: refused calls write no agent and
// no audit row.
TEST_F(AdmissionE2eTest, RegistrationsWithoutAKeyAreRateLimited) {
  ASSERT_NO_FATAL_FAILURE(Start({"--register-rate-per-source", "4"}));
  std::vector<Registered> calls;
  for (int i = 0; i < 30; ++i) calls.push_back(Register(absl::StrCat("burst-", i), ""));
  int ok = CountCode(calls, grpc::StatusCode::OK);
  // A bucket of 4, refilled at one per 15 s: a fifth only on a slow machine.
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 5);
  EXPECT_EQ(CountCode(calls, grpc::StatusCode::RESOURCE_EXHAUSTED), 30 - ok);
  for (const auto& c : calls) {
    if (!c.status.ok()) {
      EXPECT_TRUE(absl::StrContains(c.status.error_message(),
                                    "too many registrations without a valid register key"))
          << c.status.error_message();
    }
  }
  EXPECT_EQ(static_cast<int>(StoredAgents().size()), ok);
  // A keyed registration is not limited.
  Registered keyed = Register("keyed", BootstrapKey());
  EXPECT_TRUE(keyed.status.ok()) << keyed.status.error_message();
  EXPECT_EQ(WaitForAuditRows("agent.register", ok + 1).size(), static_cast<size_t>(ok + 1));
}

// A name is one agent's: a second registration with it is ALREADY_EXISTS,
// until an admin deletes the first (audited).
TEST_F(AdmissionE2eTest, DuplicateNamesAreRefusedUntilTheAgentIsDeleted) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Registered first = Register("builder", BootstrapKey());
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  Registered second = Register("builder", BootstrapKey());
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_TRUE(absl::StrContains(second.status.error_message(),
                                "an agent named 'builder' is already registered"))
      << second.status.error_message();
  EXPECT_EQ(StoredAgents().size(), 1u);

  CliResult deleted = cluster_.Cli({"agent", "delete", "builder"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.ToString();
  EXPECT_TRUE(
      absl::StrContains(deleted.out, "agent builder (" + first.response.agent_id() + ") deleted"))
      << deleted.out;
  EXPECT_TRUE(StoredAgents().empty());
  Registered again = Register("builder", BootstrapKey());
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_NE(again.response.agent_id(), first.response.agent_id());

  std::vector<store::AuditRecord> rows = WaitForAuditRows("agent.delete", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].actor, "admin");
  EXPECT_EQ(rows[0].outcome, "ok");
  rows = WaitForAuditRows("agent.register", 3);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].outcome, "denied");
}

// An agent registered with a key scoped to `staging` asks for `prod` too: it
// is refused prod (told so, and it says so in its log), runs staging's job
// and never prod's, until an admin assigns it prod.
TEST_F(AdmissionE2eTest, AScopedKeyCannotClaimProd) {
  ASSERT_NO_FATAL_FAILURE(Start());
  CliResult created = cluster_.Cli(
      {"agent-key", "create", "--name", "ci", "--environments", "staging", "--resources", "linux"});
  ASSERT_EQ(created.exit_code, 0) << created.ToString();
  const std::string key = std::string(absl::StripAsciiWhitespace(created.out));
  ASSERT_EQ(key.size(), 64u) << created.out;
  std::string key_file = cluster_.WriteFile("ci.key", key + "\n");

  ASSERT_TRUE(cluster_
                  .ApplyConfig("format_version: 10\n"
                               "environments:\n"
                               "  prod:\n"
                               "    pipelines: [ship]\n"
                               "  staging:\n"
                               "    pipelines: [try]\n"
                               "pipelines:\n"
                               "  ship:\n"
                               "    group: e2e\n"
                               "    stages:\n"
                               "      - deploy:\n"
                               "          jobs:\n"
                               "            rollout:\n"
                               "              tasks: [{exec: {command: \"true\"}}]\n"
                               "  try:\n"
                               "    group: e2e\n"
                               "    stages:\n"
                               "      - deploy:\n"
                               "          jobs:\n"
                               "            rollout:\n"
                               "              tasks: [{exec: {command: \"true\"}}]\n")
                  .ok());
  AgentOptions options{"ci-agent", {"linux", "deploy"}, {"prod", "staging"}, {}};
  options.register_key_file = key_file;
  absl::StatusOr<int> agent = cluster_.StartAgent(options);
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();

  absl::StatusOr<v1::Agent> view = cluster_.FindAgent("ci-agent");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->config_state(), "enabled");
  EXPECT_EQ(std::vector<std::string>(view->environments().begin(), view->environments().end()),
            std::vector<std::string>{"staging"});
  EXPECT_EQ(std::vector<std::string>(view->resources().begin(), view->resources().end()),
            std::vector<std::string>{"linux"});
  EXPECT_EQ(std::vector<std::string>(view->refused_environments().begin(),
                                     view->refused_environments().end()),
            std::vector<std::string>{"prod"});
  EXPECT_EQ(view->register_key(), "ci");
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster_.AgentLog(*agent),
                                 "refused resources deploy and environments prod");
      },
      absl::Seconds(10)))
      << cluster_.AgentLog(*agent);

  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "try"}).exit_code, 0);
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "ship"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("try/1", "passed", kRunDeadline)) << cluster_.LogTails();
  // ship waits: no agent in prod.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto run = cluster_.ShowRun("ship/1");
        return run.ok() && run->stages_size() > 0 && run->stages(0).jobs_size() > 0 &&
               !run->stages(0).jobs(0).reason().empty();
      },
      absl::Seconds(10), kCliPoll));
  absl::StatusOr<v1::PipelineRun> ship = cluster_.ShowRun("ship/1");
  ASSERT_TRUE(ship.ok()) << ship.status();
  EXPECT_EQ(ship->stages(0).jobs(0).state(), "scheduled") << ship->DebugString();

  // An admin assigns it prod.
  CliResult set = cluster_.Cli({"agent", "set", "ci-agent", "--environments", "prod,staging"});
  ASSERT_EQ(set.exit_code, 0) << set.ToString();
  ASSERT_TRUE(cluster_.WaitForRunState("ship/1", "passed", kRunDeadline)) << cluster_.LogTails();
  view = cluster_.FindAgent("ci-agent");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_TRUE(view->environments_assigned());
  EXPECT_TRUE(view->refused_environments().empty());

  EXPECT_EQ(WaitForAuditRows("agent-key.create", 1).size(), 1u);
  std::vector<store::AuditRecord> rows = WaitForAuditRows("agent.set", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].actor, "admin");
  rows = WaitForAuditRows("agent.register", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(absl::StrContains(rows[0].reason,
                                "key ci; refused resources deploy; "
                                "environments prod"))
      << rows[0].reason;

  // A revoked key admits no one new; the agent it admitted stays.
  ASSERT_EQ(cluster_.Cli({"agent-key", "revoke", "ci"}).exit_code, 0);
  Registered late = Register("late", key);
  ASSERT_TRUE(late.status.ok()) << late.status.error_message();
  EXPECT_EQ(late.response.state(), "pending");
  EXPECT_EQ(late.response.refused_environments_size(), 0);
}

// The scope holds for an agent restarted with other flags too: its Hello
// asks again, and what the key does not allow stays refused.
TEST_F(AdmissionE2eTest, AHelloAsksWithinTheKeysScope) {
  ASSERT_NO_FATAL_FAILURE(Start());
  CliResult created = cluster_.Cli({"agent-key", "create", "--environments", "staging"});
  ASSERT_EQ(created.exit_code, 0) << created.ToString();
  // As the agent does: a key of its own, a CSR, then sessions over mutual
  // TLS with the certificate the controller signed.
  tls::ClientTls mtls;
  mtls.ca_pem = ReadFile(cluster_.ca_file()).value_or("");
  mtls.key_pem = *tls::GenerateKeyPem();
  Registered agent = Register("scoped", std::string(absl::StripAsciiWhitespace(created.out)),
                              {"staging"}, *tls::MakeCsr(mtls.key_pem, "scoped"));
  ASSERT_TRUE(agent.status.ok()) << agent.status.error_message();
  EXPECT_EQ(agent.response.refused_environments_size(), 0);
  mtls.cert_chain_pem = agent.response.certificate();
  auto agent_stub = v1::AgentService::NewStub(
      grpc::CreateChannel(cluster_.controller_addr(), tls::MakeChannelCredentials(mtls)));

  grpc::ClientContext context;
  auto stream = agent_stub->Session(&context);
  v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id(agent.response.agent_id());
  hello.mutable_hello()->set_token(agent.response.token());
  hello.mutable_hello()->set_session_nonce("restarted");
  hello.mutable_hello()->add_environments("prod");
  hello.mutable_hello()->add_environments("staging");
  ASSERT_TRUE(stream->Write(hello));
  v1::ControllerMessage welcome;
  ASSERT_TRUE(stream->Read(&welcome));
  ASSERT_TRUE(welcome.has_welcome()) << welcome.DebugString();
  EXPECT_EQ(std::vector<std::string>(welcome.welcome().environments().begin(),
                                     welcome.welcome().environments().end()),
            std::vector<std::string>{"staging"});
  EXPECT_EQ(std::vector<std::string>(welcome.welcome().refused_environments().begin(),
                                     welcome.welcome().refused_environments().end()),
            std::vector<std::string>{"prod"});
  absl::StatusOr<v1::Agent> view = cluster_.FindAgent("scoped");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(std::vector<std::string>(view->environments().begin(), view->environments().end()),
            std::vector<std::string>{"staging"});
  std::vector<store::AgentRecord> stored = StoredAgents();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].environments, std::vector<std::string>{"staging"});
  EXPECT_EQ(stored[0].requested_environments, (std::vector<std::string>{"prod", "staging"}));
  context.TryCancel();
}

// Agents are administered by admins only; anyone authenticated may list
// them. Each refusal is PERMISSION_DENIED and an audit row.
TEST_F(AdmissionE2eTest, OnlyAdminsAdministerAgentsAndKeys) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Registered agent = Register("worker", BootstrapKey());
  ASSERT_TRUE(agent.status.ok()) << agent.status.error_message();
  CliResult key = cluster_.Cli({"agent-key", "create", "--name", "k1"});
  ASSERT_EQ(key.exit_code, 0) << key.ToString();
  CliResult token = cluster_.Cli({"token", "create", "--user", "bob"});
  ASSERT_EQ(token.exit_code, 0) << token.ToString();
  const std::string bob = std::string(absl::StripAsciiWhitespace(token.out));

  CliResult listed = CliWithToken(bob, {"agent", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.ToString();
  EXPECT_TRUE(absl::StrContains(listed.out, "worker")) << listed.out;
  const std::vector<std::vector<std::string>> refused = {
      {"agent", "disable", "worker"}, {"agent", "set", "worker", "--environments", "prod"},
      {"agent", "delete", "worker"},  {"agent-key", "create", "--environments", "prod"},
      {"agent-key", "list"},          {"agent-key", "revoke", "k1"},
  };
  for (const auto& args : refused) {
    CliResult r = CliWithToken(bob, args);
    EXPECT_EQ(r.exit_code, 1) << absl::StrJoin(args, " ") << ": " << r.ToString();
    EXPECT_TRUE(absl::StrContains(r.err, "permission denied")) << r.ToString();
  }
  absl::StatusOr<v1::Agent> view = cluster_.FindAgent("worker");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->config_state(), "enabled");
  EXPECT_TRUE(view->environments().empty());
  for (const char* action :
       {"agent.disable", "agent.set", "agent.delete", "agent-key.create", "agent-key.revoke"}) {
    // agent-key.create: the admin's k1, then bob's refusal.
    size_t n = std::string(action) == "agent-key.create" ? 2 : 1;
    std::vector<store::AuditRecord> rows = WaitForAuditRows(action, n);
    ASSERT_EQ(rows.size(), n) << action;
    EXPECT_EQ(rows.back().actor, "bob") << action;
    EXPECT_EQ(rows.back().outcome, "denied") << action;
  }
}

// A copy of agent-0's identity (agent.json, key, certificate) elsewhere is
// refused while agent-0 is connected, says so in its log, and takes no job:
// eight jobs all pass, each exactly once, on agent-0.
TEST_F(AdmissionE2eTest, AClonedIdentityIsRefusedAndJobsPassExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(Start());
  absl::StatusOr<int> original = cluster_.StartAgent();
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();

  // The whole identity, key and certificate too (without them the clone
  // is refused sooner: agent_certs_e2e_test).
  std::filesystem::create_directories(cluster_.dir() + "/agents/clone");
  for (const char* file : {"/agent.json", "/agent.key", "/agent.crt"}) {
    std::filesystem::copy_file(cluster_.agent_work_dir(*original) + file,
                               cluster_.dir() + "/agents/clone" + file);
  }
  absl::StatusOr<int> clone = cluster_.StartAgent({"clone", {}, {}, {}});
  ASSERT_TRUE(clone.ok()) << clone.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster_.AgentLog(*clone), "controller refused this session") &&
               absl::StrContains(cluster_.AgentLog(*clone), "is already connected from");
      },
      absl::Seconds(20)))
      << cluster_.LogTails();

  std::string jobs;
  for (int i = 0; i < 8; ++i) {
    absl::StrAppend(&jobs, "            job-", i,
                    ":\n              tasks: [{exec: {command: /bin/sh, arguments: [-c, "
                    "\"sleep 0.2; echo ran\"]}}]\n");
  }
  ASSERT_TRUE(cluster_
                  .ApplyConfig(absl::StrCat("format_version: 10\npipelines:\n"
                                            "  eight:\n"
                                            "    group: e2e\n"
                                            "    stages:\n"
                                            "      - run:\n"
                                            "          jobs:\n",
                                            jobs))
                  .ok());
  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "eight"}).exit_code, 0);
  ASSERT_TRUE(cluster_.WaitForRunState("eight/1", "passed", kRunDeadline)) << cluster_.LogTails();
  absl::StatusOr<v1::PipelineRun> run = cluster_.ShowRun("eight/1");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->stages_size(), 1);
  std::map<std::string, int> attempts;
  for (const v1::JobRun& j : run->stages(0).jobs()) {
    ++attempts[j.name()];
    EXPECT_EQ(j.state(), "passed") << j.DebugString();
    EXPECT_EQ(j.agent_name(), cluster_.agent_name(*original));
  }
  EXPECT_EQ(attempts.size(), 8u);
  for (const auto& [job, n] : attempts) EXPECT_EQ(n, 1) << job;

  // The clone never got a session, and is still only one agent.
  EXPECT_FALSE(absl::StrContains(cluster_.AgentLog(*clone), "connected to"))
      << cluster_.AgentLog(*clone);
  absl::StatusOr<std::vector<v1::Agent>> agents = cluster_.ListAgents();
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_TRUE((*agents)[0].connected());
  std::vector<store::AuditRecord> rows = WaitForAuditRows("agent.connect", 1);
  ASSERT_GE(rows.size(), 1u);
  EXPECT_EQ(rows[0].outcome, "denied");
  EXPECT_EQ(rows[0].actor, "agent:" + cluster_.agent_name(*original));
}

}  // namespace
}  // namespace gantry::e2e
