// The wiring: a Session gives its jobs an ArtifactClient on its own channel
// with the agent's identity, so an assigned job fetches and uploads through
// the controller it is connected to, before it reports JobCompleted.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/identity.h"
#include "agent/paths.h"
#include "agent/session.h"
#include "common/crypto.h"
#include "common/files.h"

namespace gantry::agent {
namespace {

using gantry::v1::AgentMessage;
using gantry::v1::ControllerMessage;

constexpr int64_t kAttempt = 7;

// Assigns one job on Hello, serves one fetch, records uploads and the
// order in which they and JobCompleted arrive.
class FakeController final : public gantry::v1::AgentService::Service {
 public:
  grpc::Status Session(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<ControllerMessage, AgentMessage>* stream)
      override {
    AgentMessage m;
    while (stream->Read(&m)) {
      if (m.has_hello()) {
        ControllerMessage welcome;
        welcome.mutable_welcome()->set_state("enabled");
        stream->Write(welcome);
        stream->Write(MakeAssign());
      }
      if (m.has_job_completed()) {
        absl::MutexLock lock(&mu_);
        events_.push_back(absl::StrCat("completed:", m.job_completed().result(),
                                       ":", m.job_completed().reason()));
        ControllerMessage ack;
        ack.mutable_completion_ack()->set_attempt_id(kAttempt);
        stream->Write(ack);
        cv_.SignalAll();
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status UploadArtifact(
      grpc::ServerContext*,
      grpc::ServerReader<gantry::v1::UploadArtifactRequest>* reader,
      gantry::v1::UploadArtifactResponse* response) override {
    gantry::v1::UploadArtifactRequest m;
    gantry::v1::ArtifactUploadHeader header;
    std::string data;
    while (reader->Read(&m)) {
      if (m.has_header()) header = m.header();
      if (m.has_data()) data += m.data();
    }
    response->set_path(header.path());
    response->set_size(static_cast<int64_t>(data.size()));
    response->set_sha256(Sha256Hex(data));
    absl::MutexLock lock(&mu_);
    events_.push_back(absl::StrCat(
        "upload:", header.path(), ":", data, ":", header.auth().agent_id(), ":",
        header.auth().token(), ":", header.auth().attempt_id()));
    return grpc::Status::OK;
  }

  grpc::Status DownloadArtifact(
      grpc::ServerContext*, const gantry::v1::DownloadArtifactRequest* request,
      grpc::ServerWriter<gantry::v1::ArtifactStreamChunk>* writer) override {
    if (request->auth().token() != "token-1" ||
        request->auth().attempt_id() != kAttempt ||
        request->task_index() != 0) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no");
    }
    gantry::v1::ArtifactStreamChunk chunk;
    chunk.mutable_file()->set_path("in.txt");
    chunk.mutable_file()->set_size(8);
    chunk.mutable_file()->set_sha256(Sha256Hex("upstream"));
    writer->Write(chunk);
    chunk.Clear();
    chunk.set_data("upstream");
    writer->Write(chunk);
    return grpc::Status::OK;
  }

  bool WaitCompleted(absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    absl::Time deadline = absl::Now() + timeout;
    auto done = [this] {
      for (const auto& e : events_) {
        if (absl::StartsWith(e, "completed:")) return true;
      }
      return false;
    };
    while (!done()) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) return done();
    }
    return true;
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  static ControllerMessage MakeAssign() {
    ControllerMessage m;
    auto* a = m.mutable_assign();
    a->set_attempt_id(kAttempt);
    a->set_pipeline("app");
    a->set_pipeline_counter(1);
    a->set_stage("build");
    a->set_stage_counter(1);
    a->set_job("compile");
    auto* fetch = a->add_tasks()->mutable_fetch();
    fetch->set_pipeline("up");
    fetch->set_pipeline_counter(2);
    fetch->set_stage("build");
    fetch->set_stage_counter(1);
    fetch->set_job("compile");
    fetch->set_source("out/in.txt");
    fetch->set_is_file(true);
    auto* exec = a->add_tasks()->mutable_exec();
    exec->set_command("sh");
    exec->add_arguments("-c");
    exec->add_arguments("tr a-z A-Z < in.txt > out.txt");
    a->add_artifacts()->set_source("out.txt");
    return m;
  }

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<std::string> events_;
};

// The job fetches with the agent's credentials, uploads its artifact, and
// only then reports JobCompleted.
TEST(ArtifactSessionTest, JobTransfersThroughTheSessionsController) {
  char tmpl[] = "/tmp/gantry-artifact-session-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string work_dir = tmpl;
  ASSERT_TRUE(
      SaveIdentity(IdentityPath(work_dir), {"agent-1", "token-1", "a"}).ok());

  FakeController fake;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&fake);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  SessionOptions options;
  options.controller_address = absl::StrCat("127.0.0.1:", port);
  options.work_dir = work_dir;
  options.hostname = "h";
  options.backoff.initial = absl::Milliseconds(10);
  options.backoff.max = absl::Milliseconds(50);
  options.shutdown_drain = absl::Seconds(2);
  options.runner.kill_grace = absl::Seconds(2);
  options.runner.output_linger = absl::Milliseconds(100);
  options.runner.base_environment =
      std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin"};
  Session session(options);
  absl::Status run_status;
  std::thread thread([&] { run_status = session.Run(); });

  EXPECT_TRUE(fake.WaitCompleted());
  session.Stop();
  thread.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));

  EXPECT_THAT(fake.events(), ::testing::ElementsAre(
                                 "upload:out.txt:UPSTREAM:agent-1:token-1:7",
                                 "completed:passed:"));
  EXPECT_EQ(*ReadFile(work_dir + "/pipelines/app/in.txt"), "upstream");
  std::filesystem::remove_all(work_dir);
}

}  // namespace
}  // namespace gantry::agent
