// The CLI given several controllers (--controller a,b): it asks each
// GetLeader and sends the command to the leader, follows the leader a
// standby names, falls back to a standby for reads, and shows a standby's
// refusal of a write as one line. Fake OperatorServices on 127.0.0.1:0.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/test_util.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;
using testing::CliResult;
using ::testing::HasSubstr;

// A controller that leads or stands by; a standby serves reads and refuses
// writes as the real one does.
class FakeController final : public v1::OperatorService::Service {
 public:
  void Set(bool leader, std::string leader_address) {
    absl::MutexLock lock(&mu_);
    leader_ = leader;
    leader_address_ = std::move(leader_address);
  }
  int leader_calls() {
    absl::MutexLock lock(&mu_);
    return leader_calls_;
  }
  int list_calls() {
    absl::MutexLock lock(&mu_);
    return list_calls_;
  }

  grpc::Status GetLeader(grpc::ServerContext* context, const v1::GetLeaderRequest*,
                         v1::LeaderInfo* info) override {
    absl::MutexLock lock(&mu_);
    ++leader_calls_;
    // Answered without a token.
    EXPECT_EQ(context->client_metadata().count("authorization"), 0u);
    info->set_leader(leader_);
    info->set_leader_address(leader_address_);
    return grpc::Status::OK;
  }
  grpc::Status ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest*,
                          v1::ListAgentsResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++list_calls_;
    auto* agent = response->add_agents();
    agent->set_id("a-1");
    agent->set_name(leader_ ? "from-leader" : "from-standby");
    return grpc::Status::OK;
  }
  // The next GetPipelineRun fails as a dying leader's would; from then on
  // this controller stands by and names `new_leader`.
  void StepDownAtNextRead(std::string new_leader) {
    absl::MutexLock lock(&mu_);
    step_down_to_ = std::move(new_leader);
  }
  int run_reads() {
    absl::MutexLock lock(&mu_);
    return run_reads_;
  }
  grpc::Status TriggerPipeline(grpc::ServerContext*, const v1::TriggerPipelineRequest* request,
                               v1::PipelineRun* run) override {
    absl::MutexLock lock(&mu_);
    if (!leader_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not the leader (x)");
    run->set_pipeline(request->pipeline());
    run->set_counter(7);
    run->set_state("building");
    return grpc::Status::OK;
  }
  grpc::Status GetPipelineRun(grpc::ServerContext*, const v1::GetPipelineRunRequest* request,
                              v1::PipelineRun* run) override {
    absl::MutexLock lock(&mu_);
    ++run_reads_;
    if (!step_down_to_.empty()) {
      leader_ = false;
      leader_address_ = std::move(step_down_to_);
      step_down_to_.clear();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed");
    }
    run->set_pipeline(request->pipeline());
    run->set_counter(request->counter());
    run->set_state("passed");
    return grpc::Status::OK;
  }
  grpc::Status UpdateAgent(grpc::ServerContext*, const v1::UpdateAgentRequest* request,
                           v1::Agent* agent) override {
    absl::MutexLock lock(&mu_);
    if (!leader_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          leader_address_.empty()
                              ? "not the leader (no leader yet)"
                              : absl::StrCat("not the leader (leader at ", leader_address_, ")"));
    }
    agent->set_id("a-1");
    agent->set_name(request->agent());
    agent->set_status("disabled");
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  std::string leader_address_ ABSL_GUARDED_BY(mu_);
  int leader_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int list_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::string step_down_to_ ABSL_GUARDED_BY(mu_);
  int run_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

struct Served {
  FakeController service;
  std::unique_ptr<grpc::Server> server;
  std::string address;

  Served() {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    address = absl::StrCat("127.0.0.1:", port);
  }
  ~Served() { server->Shutdown(); }
};

// `n` distinct addresses where nothing listens: servers' ports after they
// stopped.
std::vector<std::string> DeadAddresses(int n) {
  std::vector<std::unique_ptr<Served>> servers;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    servers.push_back(std::make_unique<Served>());
    out.push_back(servers.back()->address);
  }
  return out;
}
std::string DeadAddress() { return DeadAddresses(1)[0]; }

CliResult RunWith(const std::string& controllers, const std::vector<std::string>& args) {
  CliOptions options;
  options.poll_interval = absl::Milliseconds(5);
  options.env = testing::MapEnv({{"GANTRY_CONTROLLER", controllers},
                                 {"GANTRY_TOKEN", "tok"},
                                 {"GANTRY_DATA_DIR", "/nonexistent"},
                                 {"GANTRY_INSECURE", "1"}});
  return testing::RunGantry(args, options);
}

// The standby comes first in the list; it names the leader, which serves.
TEST(LeaderTest, FollowsTheLeaderAStandbyNames) {
  Served standby, leader;
  leader.service.Set(true, leader.address);
  standby.service.Set(false, leader.address);
  CliResult r = RunWith(absl::StrCat(standby.address, ",", leader.address), {"agent", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-leader"));
  EXPECT_EQ(standby.service.leader_calls(), 1);
  EXPECT_EQ(standby.service.list_calls(), 0);
  EXPECT_EQ(leader.service.list_calls(), 1);

  CliResult write =
      RunWith(absl::StrCat(standby.address, ",", leader.address), {"agent", "disable", "x"});
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(write.out, "agent x (a-1) disabled, now disabled\n");
}

// A controller that is down is skipped.
TEST(LeaderTest, SkipsAControllerThatIsDown) {
  Served leader;
  leader.service.Set(true, leader.address);
  CliResult r = RunWith(absl::StrCat(DeadAddress(), ",", leader.address), {"agent", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-leader"));
}

// A takeover while `trigger --wait` polls: the failed read makes the CLI
// ask again where the leader is, and the wait ends at the new one.
TEST(LeaderTest, WaitCarriesOnAtTheNewLeader) {
  Served first, second;
  first.service.Set(true, first.address);
  second.service.Set(false, first.address);
  first.service.StepDownAtNextRead(second.address);
  // The takeover, as the standby would see it once the lease ran out.
  second.service.Set(true, second.address);
  CliResult r = RunWith(absl::StrCat(first.address, ",", second.address),
                        {"pipeline", "trigger", "build", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("build/7 passed"));
  EXPECT_EQ(first.service.run_reads(), 1);
  EXPECT_EQ(second.service.run_reads(), 1);
  EXPECT_EQ(first.service.leader_calls(), 2);
}

// The leader a standby names need not be in the list.
TEST(LeaderTest, FollowsALeaderOutsideTheList) {
  Served standby, leader;
  leader.service.Set(true, leader.address);
  standby.service.Set(false, leader.address);
  CliResult r = RunWith(absl::StrCat(DeadAddress(), ",", standby.address), {"agent", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("from-leader"));
  EXPECT_EQ(leader.service.leader_calls(), 0);
  EXPECT_EQ(leader.service.list_calls(), 1);
}

// No leader: reads go to the first controller that answered; a write there
// is refused in one line that says so.
TEST(LeaderTest, WithoutLeaderReadsWorkAndWritesSaySo) {
  Served first, second;
  std::string list = absl::StrCat(DeadAddress(), ",", first.address, ",", second.address);
  CliResult read = RunWith(list, {"agent", "list"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_THAT(read.out, HasSubstr("from-standby"));
  EXPECT_EQ(first.service.list_calls(), 1);
  EXPECT_EQ(second.service.list_calls(), 0);

  CliResult write = RunWith(list, {"agent", "disable", "x"});
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_EQ(write.err, absl::StrCat("gantry: controller at ", first.address,
                                    ": not the leader (no leader yet)\n"));
}

// Nothing answers: the error names the controller tried and the list.
TEST(LeaderTest, NoControllerAnswers) {
  std::vector<std::string> dead = DeadAddresses(2);
  std::string list = absl::StrCat(dead[0], ",", dead[1]);
  CliResult r = RunWith(list, {"agent", "list"});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(r.ErrLines().size(), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot reach controller at "));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("(no controller of ", list, " answered)")));
}

// One address: no GetLeader, the command goes straight there.
TEST(LeaderTest, SingleAddressAsksNothingFirst) {
  Served only;
  CliResult r = RunWith(only.address, {"agent", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(only.service.leader_calls(), 0);
  EXPECT_EQ(only.service.list_calls(), 1);
}

// Lists are checked entry by entry; plaintext only to loopback entries.
TEST(LeaderTest, ListsAreChecked) {
  auto env = testing::MapEnv({{"GANTRY_DATA_DIR", "/nonexistent"}});
  ConnectionFlags flags;
  flags.controller = "0.0.0.0:1, [::]:2";
  auto ok = ResolveConnection(flags, env);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->address, "127.0.0.1:1,[::1]:2");
  ASSERT_EQ(ok->targets.size(), 2u);
  EXPECT_EQ(ok->targets[1].target, "[::1]:2");

  flags.controller = "a:1,b";
  EXPECT_EQ(ResolveConnection(flags, env).status().message(),
            "bad controller address 'b' in 'a:1,b': expected HOST:PORT (from --controller)");

  flags.controller = "127.0.0.1:1,ci.example.com:2";
  flags.insecure = true;
  EXPECT_EQ(ResolveConnection(flags, env).status().message(),
            "--insecure (plaintext) is only for a controller on loopback, not ci.example.com:2");
}

}  // namespace
}  // namespace gantry::cli
