// `gantry agent set` and `gantry agent-key create` against a fake
// OperatorService: what each flag puts in the request (a list given empty
// is told apart from one not given), and what is printed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

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

class FakeAgentAdmin final : public v1::OperatorService::Service {
 public:
  grpc::Status SetAgent(grpc::ServerContext*, const v1::SetAgentRequest* request,
                        v1::Agent* response) override {
    absl::MutexLock lock(&mu_);
    last_set_ = *request;
    response->set_name(request->agent());
    for (const auto& r : request->resources().values()) response->add_resources(r);
    for (const auto& e : request->environments().values()) response->add_environments(e);
    return grpc::Status::OK;
  }
  grpc::Status CreateAgentKey(grpc::ServerContext*, const v1::CreateAgentKeyRequest* request,
                              v1::CreateAgentKeyResponse* response) override {
    response->set_key("k3y");
    response->mutable_info()->set_id(4);
    response->mutable_info()->set_name(request->name());
    *response->mutable_info()->mutable_environments() = request->environments();
    return grpc::Status::OK;
  }
  v1::SetAgentRequest last_set() {
    absl::MutexLock lock(&mu_);
    return last_set_;
  }

 private:
  absl::Mutex mu_;
  v1::SetAgentRequest last_set_ ABSL_GUARDED_BY(mu_);
};

class AgentCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    options_.env = testing::MapEnv({{"GANTRY_CONTROLLER", "127.0.0.1:" + std::to_string(port_)},
                                    {"GANTRY_TOKEN", "t"},
                                    {"GANTRY_DATA_DIR", "/nonexistent"},
                                    {"GANTRY_INSECURE", "1"}});
  }
  void TearDown() override { server_->Shutdown(); }
  CliResult Run(const std::vector<std::string>& args) { return testing::RunGantry(args, options_); }

  FakeAgentAdmin service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  CliOptions options_;
};

// A list not given is not sent: the controller leaves it as it is.
TEST_F(AgentCommandsTest, SetSendsOnlyTheListsGiven) {
  CliResult r = Run({"agent", "set", "w1", "--resources", "linux,docker"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "agent w1: resources linux, docker; environments none\n");
  v1::SetAgentRequest sent = service_.last_set();
  EXPECT_EQ(sent.agent(), "w1");
  ASSERT_TRUE(sent.has_resources());
  EXPECT_EQ(sent.resources().values_size(), 2);
  EXPECT_FALSE(sent.has_environments());
  EXPECT_FALSE(sent.reset_environments());
}

// `--environments ''` assigns none: given, and empty.
TEST_F(AgentCommandsTest, SetWithAnEmptyListAssignsNone) {
  CliResult r = Run({"agent", "set", "w1", "--environments", ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::SetAgentRequest sent = service_.last_set();
  ASSERT_TRUE(sent.has_environments());
  EXPECT_EQ(sent.environments().values_size(), 0);
  EXPECT_FALSE(sent.has_resources());
}

// --reset-… is its own request; nothing to set, or a list and its reset
// together, are refused before anything is sent.
TEST_F(AgentCommandsTest, SetResetsAndRefusesNothingOrBoth) {
  CliResult r = Run({"agent", "set", "w1", "--reset-environments"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(service_.last_set().reset_environments());
  EXPECT_FALSE(service_.last_set().has_environments());

  r = Run({"agent", "set", "w1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing to set"), std::string::npos) << r.err;
  r = Run({"agent", "set", "w1", "--resources", "a", "--reset-resources"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

// The key alone on stdout (so it can go straight to a file); the rest on
// stderr.
TEST_F(AgentCommandsTest, KeyCreatePrintsTheKeyAlone) {
  CliResult r = Run({"agent-key", "create", "--name", "ci", "--environments", "staging,qa"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "k3y\n");
  EXPECT_NE(r.err.find("register key ci (4) created: resources none; environments staging, qa"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace gantry::cli
