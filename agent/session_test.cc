// Session against a fake controller: an in-process AgentService on
// 127.0.0.1:0 whose reactions each test scripts.
#include "agent/session.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/identity.h"
#include "agent/paths.h"
#include "common/files.h"
#include "common/testing/wait_for.h"

namespace gantry::agent {
namespace {

using gantry::v1::AgentMessage;
using gantry::v1::ControllerMessage;
using ::testing::HasSubstr;

// What the fake does after receiving a message: send these, then optionally
// end the stream with `status`.
struct Reaction {
  std::vector<ControllerMessage> send;
  bool end = false;
  grpc::Status status;
};

struct Received {
  int connection;
  AgentMessage message;
};

class FakeController final : public gantry::v1::AgentService::Service {
 public:
  using Script = std::function<Reaction(int connection, const AgentMessage&)>;

  void set_script(Script script) {
    absl::MutexLock lock(&mu_);
    script_ = std::move(script);
  }

  grpc::Status Register(grpc::ServerContext*, const gantry::v1::RegisterRequest* request,
                        gantry::v1::RegisterResponse* response) override {
    absl::MutexLock lock(&mu_);
    registrations_.push_back(*request);
    if (request->register_key() != "the-key") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "bad key");
    }
    int n = static_cast<int>(registrations_.size());
    response->set_agent_id(absl::StrCat("agent-", n));
    response->set_token(absl::StrCat("token-", n));
    response->set_state("enabled");
    return grpc::Status::OK;
  }

  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<ControllerMessage, AgentMessage>* stream) override {
    int connection;
    {
      absl::MutexLock lock(&mu_);
      connection = ++connections_;
    }
    AgentMessage message;
    while (stream->Read(&message)) {
      Reaction reaction;
      {
        absl::MutexLock lock(&mu_);
        received_.push_back({connection, message});
        if (script_) reaction = script_(connection, message);
      }
      for (const auto& m : reaction.send) stream->Write(m);
      if (reaction.end) return reaction.status;
    }
    return grpc::Status::OK;
  }

  // Waits until `pred` holds over what was received; false on timeout.
  bool WaitFor(const std::function<bool(const std::vector<Received>&)>& pred,
               absl::Duration timeout = absl::Seconds(20)) {
    return gantry::WaitFor(
        [&] {
          absl::MutexLock lock(&mu_);
          return pred(received_);
        },
        timeout);
  }
  std::vector<Received> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<gantry::v1::RegisterRequest> registrations() {
    absl::MutexLock lock(&mu_);
    return registrations_;
  }

 private:
  absl::Mutex mu_;
  Script script_;
  int connections_ = 0;
  std::vector<Received> received_;
  std::vector<gantry::v1::RegisterRequest> registrations_;
};

ControllerMessage Welcome(int heartbeat_ms = 50) {
  ControllerMessage m;
  m.mutable_welcome()->set_agent_id("agent");
  m.mutable_welcome()->set_state("enabled");
  m.mutable_welcome()->set_heartbeat_interval_ms(heartbeat_ms);
  return m;
}

ControllerMessage AssignSh(int64_t attempt, const std::string& script) {
  ControllerMessage m;
  auto* a = m.mutable_assign();
  a->set_attempt_id(attempt);
  a->set_pipeline("app");
  a->set_pipeline_counter(1);
  a->set_stage("build");
  a->set_stage_counter(1);
  a->set_job("compile");
  auto* exec = a->add_tasks()->mutable_exec();
  exec->set_command("sh");
  exec->add_arguments("-c");
  exec->add_arguments(script);
  return m;
}

ControllerMessage ConsoleAck(int64_t attempt, int64_t sequence) {
  ControllerMessage m;
  m.mutable_console_ack()->set_attempt_id(attempt);
  m.mutable_console_ack()->set_sequence(sequence);
  return m;
}

ControllerMessage CompletionAck(int64_t attempt) {
  ControllerMessage m;
  m.mutable_completion_ack()->set_attempt_id(attempt);
  return m;
}

Reaction Send(std::vector<ControllerMessage> send) {
  Reaction r;
  r.send = std::move(send);
  return r;
}

Reaction End(grpc::StatusCode code, const std::string& message,
             std::vector<ControllerMessage> send = {}) {
  Reaction r;
  r.send = std::move(send);
  r.end = true;
  r.status = grpc::Status(code, message);
  return r;
}

bool Has(const std::vector<Received>& all, int connection, AgentMessage::KindCase kind) {
  for (const auto& r : all) {
    if ((connection == 0 || r.connection == connection) && r.message.kind_case() == kind) {
      return true;
    }
  }
  return false;
}

std::vector<AgentMessage> Of(const std::vector<Received>& all, int connection,
                             AgentMessage::KindCase kind) {
  std::vector<AgentMessage> out;
  for (const auto& r : all) {
    if (r.connection == connection && r.message.kind_case() == kind) {
      out.push_back(r.message);
    }
  }
  return out;
}

// The console of an attempt as the controller would store it: chunks
// deduplicated by sequence. Fails the test on a gap or on two different
// payloads for one sequence number.
std::string StoredConsole(const std::vector<Received>& all, int64_t attempt,
                          int64_t* last_sequence) {
  std::map<int64_t, std::string> chunks;
  for (const auto& r : all) {
    if (!r.message.has_console()) continue;
    const auto& c = r.message.console();
    if (c.attempt_id() != attempt) continue;
    auto [it, inserted] = chunks.emplace(c.sequence(), c.data());
    if (!inserted) {
      EXPECT_EQ(it->second, c.data()) << "seq " << c.sequence();
    }
  }
  std::string out;
  int64_t expected = 1;
  for (const auto& [seq, data] : chunks) {
    EXPECT_EQ(seq, expected) << "gap in console sequence numbers";
    expected = seq + 1;
    out += data;
  }
  *last_sequence = expected - 1;
  return out;
}

// Checks that stream `stream` of `all` completed `attempt` once, passed,
// with a console whose last sequence is the completion's; returns it.
std::string ExpectPassedOnce(const std::vector<Received>& all, int stream, int64_t attempt) {
  auto done = Of(all, stream, AgentMessage::kJobCompleted);
  EXPECT_EQ(done.size(), 1u);
  if (done.size() != 1) return "";
  EXPECT_EQ(done[0].job_completed().result(), "passed");
  int64_t stored_last = 0;
  std::string console = StoredConsole(all, attempt, &stored_last);
  EXPECT_EQ(stored_last, done[0].job_completed().last_sequence());
  return console;
}

// Within one connection, chunk sequence numbers must rise by exactly one.
void ExpectContiguousWithin(const std::vector<Received>& all, int connection, int64_t attempt) {
  int64_t prev = -1;
  for (const auto& r : all) {
    if (r.connection != connection || !r.message.has_console() ||
        r.message.console().attempt_id() != attempt) {
      continue;
    }
    if (prev >= 0) {
      EXPECT_EQ(r.message.console().sequence(), prev + 1);
    }
    prev = r.message.console().sequence();
  }
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gantry-session-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_dir_ = tmpl;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);

    options_.controller_address = absl::StrCat("127.0.0.1:", port_);
    options_.work_dir = work_dir_;
    options_.register_key = "the-key";
    options_.name = "test-agent";
    options_.hostname = "test-host";
    options_.resources = {"linux", "docker"};
    options_.environments = {"staging"};
    options_.backoff.initial = absl::Milliseconds(10);
    options_.backoff.max = absl::Milliseconds(50);
    options_.rejected_retry_delay = absl::Milliseconds(50);
    options_.rpc_timeout = absl::Seconds(5);
    options_.shutdown_drain = absl::Seconds(2);
    options_.runner.kill_grace = absl::Seconds(2);
    options_.runner.output_linger = absl::Milliseconds(200);
  }

  void TearDown() override {
    StopAgent();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    std::filesystem::remove_all(work_dir_);
  }

  void StartAgent() {
    session_ = std::make_unique<Session>(options_);
    thread_ = std::thread([this] { run_status_ = session_->Run(); });
  }
  void StopAgent() {
    if (!session_) return;
    session_->Stop();
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_;
    session_.reset();
  }

  std::string work_dir_;
  int port_ = 0;
  FakeController fake_;
  // The controller after a restart, when a test needs one.
  FakeController restarted_;
  std::unique_ptr<grpc::Server> server_;
  SessionOptions options_;
  std::unique_ptr<Session> session_;
  std::thread thread_;
  absl::Status run_status_;
};

// Registers once (agent.json, mode 0600), runs an assigned job and reports
// it; when the controller drops the stream before acking, the agent
// reconnects, says it holds the finished attempt, and re-sends every
// unacked chunk and the completion, so the stored console has no gaps;
// once acked, the attempt is forgotten.
TEST_F(SessionTest, RunsJobAndResendsUnackedAfterReconnect) {
  constexpr int64_t kAttempt = 100;
  int64_t resent_last = 0;
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) {
      if (conn == 1) return Send({Welcome(), AssignSh(kAttempt, "echo hi")});
      return Send({Welcome()});
    }
    if (conn == 1 && m.has_job_completed()) {
      return End(grpc::StatusCode::UNAVAILABLE, "controller restarting");
    }
    if (conn == 2 && m.has_job_completed()) {
      resent_last = m.job_completed().last_sequence();
      return Send({ConsoleAck(kAttempt, resent_last), CompletionAck(kAttempt)});
    }
    if (conn == 2 && m.has_heartbeat() && resent_last > 0) {
      return End(grpc::StatusCode::UNAVAILABLE, "again");
    }
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor([](const std::vector<Received>& all) {
    return Has(all, 3, AgentMessage::kHello);
  })) << "agent did not reconnect twice";

  // Registration.
  auto regs = fake_.registrations();
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].name(), "test-agent");
  EXPECT_EQ(regs[0].hostname(), "test-host");
  EXPECT_THAT(regs[0].resources(), ::testing::ElementsAre("linux", "docker"));
  EXPECT_THAT(regs[0].environments(), ::testing::ElementsAre("staging"));
  struct stat st;
  ASSERT_EQ(::stat(IdentityPath(work_dir_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto identity = LoadIdentity(IdentityPath(work_dir_));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->agent_id, "agent-1");
  EXPECT_EQ(identity->token, "token-1");

  auto all = fake_.received();
  // Connection 1: hello with the new identity and nothing held.
  auto hello1 = Of(all, 1, AgentMessage::kHello);
  ASSERT_EQ(hello1.size(), 1u);
  EXPECT_EQ(hello1[0].hello().agent_id(), "agent-1");
  EXPECT_EQ(hello1[0].hello().token(), "token-1");
  EXPECT_EQ(hello1[0].hello().hostname(), "test-host");
  EXPECT_EQ(hello1[0].hello().held_size(), 0);
  EXPECT_EQ(all.front().message.kind_case(), AgentMessage::kHello);
  ASSERT_EQ(Of(all, 1, AgentMessage::kJobStarted).size(), 1u);
  auto results = Of(all, 1, AgentMessage::kTaskResult);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].task_result().outcome(), "passed");
  EXPECT_EQ(results[0].task_result().exit_code(), 0);
  auto done1 = Of(all, 1, AgentMessage::kJobCompleted);
  ASSERT_EQ(done1.size(), 1u);
  EXPECT_EQ(done1[0].job_completed().result(), "passed");
  ExpectContiguousWithin(all, 1, kAttempt);
  const int64_t last = done1[0].job_completed().last_sequence();
  ASSERT_GE(last, 1);

  // Connection 2: hello holds the finished attempt; everything re-sent.
  auto hello2 = Of(all, 2, AgentMessage::kHello);
  ASSERT_EQ(hello2.size(), 1u);
  ASSERT_EQ(hello2[0].hello().held_size(), 1);
  EXPECT_EQ(hello2[0].hello().held(0).attempt_id(), kAttempt);
  EXPECT_TRUE(hello2[0].hello().held(0).finished());
  EXPECT_EQ(hello2[0].hello().held(0).last_sequence(), last);
  auto chunks2 = Of(all, 2, AgentMessage::kConsole);
  ASSERT_FALSE(chunks2.empty());
  EXPECT_EQ(chunks2.front().console().sequence(), 1);
  EXPECT_EQ(chunks2.back().console().sequence(), last);
  ExpectContiguousWithin(all, 2, kAttempt);
  auto done2 = Of(all, 2, AgentMessage::kJobCompleted);
  ASSERT_EQ(done2.size(), 1u);
  EXPECT_EQ(done2[0].job_completed().last_sequence(), last);
  EXPECT_TRUE(Has(all, 0, AgentMessage::kHeartbeat));

  int64_t stored_last = 0;
  std::string console = StoredConsole(all, kAttempt, &stored_last);
  EXPECT_EQ(stored_last, last);
  EXPECT_THAT(console, HasSubstr("\nhi\n"));
  EXPECT_THAT(console, HasSubstr("[gantry] job passed\n"));

  // Connection 3: the acked attempt is forgotten.
  auto hello3 = Of(all, 3, AgentMessage::kHello);
  ASSERT_EQ(hello3.size(), 1u);
  EXPECT_EQ(hello3[0].hello().held_size(), 0);
  EXPECT_EQ(fake_.registrations().size(), 1u) << "registered more than once";
}

// A job keeps running while the stream is down; after reconnecting the
// agent re-sends only what was not acked, and the console stays complete.
TEST_F(SessionTest, JobSurvivesReconnectAndAckedChunksAreNotResent) {
  constexpr int64_t kAttempt = 7;
  int64_t acked = 0;
  const std::string go = work_dir_ + "/pipelines/app/go";
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) {
      if (conn == 1) {
        return Send({Welcome(), AssignSh(kAttempt,
                                         "echo first; while [ ! -e go ]; do "
                                         "sleep 0.02; done; echo second")});
      }
      // Let the job finish only once it is reconnected.
      EXPECT_TRUE(WriteFileAtomic(go, "").ok());
      return Send({Welcome()});
    }
    if (conn == 1 && m.has_console() && absl::StrContains(m.console().data(), "first\n")) {
      acked = m.console().sequence();
      return End(grpc::StatusCode::UNAVAILABLE, "restart", {ConsoleAck(kAttempt, acked)});
    }
    if (conn == 2 && m.has_job_completed()) {
      return Send(
          {ConsoleAck(kAttempt, m.job_completed().last_sequence()), CompletionAck(kAttempt)});
    }
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 2, AgentMessage::kJobCompleted); }));
  auto all = fake_.received();
  ASSERT_GE(acked, 1);
  auto hello2 = Of(all, 2, AgentMessage::kHello);
  ASSERT_EQ(hello2.size(), 1u);
  ASSERT_EQ(hello2[0].hello().held_size(), 1);
  EXPECT_FALSE(hello2[0].hello().held(0).finished());
  EXPECT_GE(hello2[0].hello().held(0).last_sequence(), acked);
  for (const auto& c : Of(all, 2, AgentMessage::kConsole)) {
    EXPECT_GT(c.console().sequence(), acked) << "acked chunk re-sent";
  }
  ExpectContiguousWithin(all, 2, kAttempt);
  // The acked JobStarted is not re-sent either.
  EXPECT_TRUE(Of(all, 2, AgentMessage::kJobStarted).empty());
  std::string console = ExpectPassedOnce(all, 2, kAttempt);
  EXPECT_THAT(console, HasSubstr("\nfirst\nsecond\n"));
}

// When the controller no longer knows the agent id (NOT_FOUND), the agent
// registers again and saves the new identity.
TEST_F(SessionTest, UnknownAgentRegistersAgain) {
  ASSERT_TRUE(MakeDirs(work_dir_).ok());
  ASSERT_TRUE(
      SaveIdentity(IdentityPath(work_dir_), {"stale-agent", "stale-token", "test-agent"}).ok());
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello() && m.hello().agent_id() == "stale-agent") {
      return End(grpc::StatusCode::NOT_FOUND, "unknown agent");
    }
    if (m.has_hello()) return Send({Welcome()});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 2, AgentMessage::kHello); }));
  auto all = fake_.received();
  EXPECT_EQ(Of(all, 1, AgentMessage::kHello)[0].hello().agent_id(), "stale-agent");
  EXPECT_EQ(Of(all, 2, AgentMessage::kHello)[0].hello().agent_id(), "agent-1");
  EXPECT_EQ(fake_.registrations().size(), 1u);
  auto identity = LoadIdentity(IdentityPath(work_dir_));
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(identity->agent_id, "agent-1");
}

// An agent process killed while holding an attempt leaves it in its
// journal: the next process's first Hello names it as interrupted (it may
// have run), and once welcomed the journal no longer does.
TEST_F(SessionTest, AttemptHeldByAKilledProcessIsReportedInterrupted) {
  ASSERT_TRUE(MakeDirs(work_dir_).ok());
  ASSERT_TRUE(SaveIdentity(IdentityPath(work_dir_), {"agent-1", "token-1", "test-agent"}).ok());
  const std::string journal = work_dir_ + "/held-attempts";
  ASSERT_TRUE(WriteFileAtomic(journal, "42\n").ok());
  fake_.set_script([&](int, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome()});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 1, AgentMessage::kHello); }));
  auto hello = Of(fake_.received(), 1, AgentMessage::kHello);
  ASSERT_EQ(hello[0].hello().held_size(), 1);
  EXPECT_EQ(hello[0].hello().held(0).attempt_id(), 42);
  EXPECT_TRUE(hello[0].hello().held(0).interrupted());
  EXPECT_FALSE(hello[0].hello().held(0).finished());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto text = ReadFile(journal);
        return text.ok() && text->empty();
      },
      absl::Seconds(10)));
}

// Accepts connections on 127.0.0.1:`port` and hangs up at once, counting
// them: what a client sees of a host whose controller is not serving yet.
class HangUpListener {
 public:
  explicit HangUpListener(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
          ::listen(fd_, 16) == 0;
  }
  ~HangUpListener() { ::close(fd_); }
  bool ok() const { return ok_; }

  // Accepts and closes until `n` connections came; false at `timeout`.
  bool AcceptAndHangUp(int n, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    int accepted = 0;
    while (accepted < n) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p = {fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) {
        continue;
      }
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ::close(c);
        ++accepted;
      }
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// A controller goes away and comes back on the same port. Retries keep
// dialing (a host that accepts and hangs up sees them), and once the
// controller serves again the agent is back on a later attempt.
TEST_F(SessionTest, EveryRetryDialsUntilTheControllerIsBack) {
  auto welcome = [](int, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome()});
    return {};
  };
  fake_.set_script(welcome);
  restarted_.set_script(welcome);
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 1, AgentMessage::kHeartbeat); }));
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_.reset();
  {
    HangUpListener host(port_);
    ASSERT_TRUE(host.ok()) << "cannot listen on port " << port_;
    EXPECT_TRUE(host.AcceptAndHangUp(5, absl::Seconds(20))) << "the agent stopped dialing";
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials());
  builder.RegisterService(&restarted_);
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  EXPECT_TRUE(restarted_.WaitFor([](const std::vector<Received>& all) {
    return Has(all, 1, AgentMessage::kHeartbeat);
  })) << "the agent did not come back";
  EXPECT_EQ(fake_.registrations().size(), 1u);
  EXPECT_TRUE(restarted_.registrations().empty());
}

// A rejected token is not a reason to exit or to register again: the agent
// keeps retrying with the same identity until the controller accepts it.
TEST_F(SessionTest, RejectedTokenKeepsRetrying) {
  ASSERT_TRUE(MakeDirs(work_dir_).ok());
  ASSERT_TRUE(SaveIdentity(IdentityPath(work_dir_), {"agent-9", "old-token", "test-agent"}).ok());
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello() && conn <= 2) {
      return End(grpc::StatusCode::PERMISSION_DENIED, "bad token");
    }
    if (m.has_hello()) return Send({Welcome()});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 3, AgentMessage::kHeartbeat); }));
  EXPECT_TRUE(fake_.registrations().empty());
  EXPECT_EQ(Of(fake_.received(), 3, AgentMessage::kHello)[0].hello().token(), "old-token");
}

// A Cancel from the controller stops the job, which reports "cancelled"
// with the reason.
TEST_F(SessionTest, ControllerCancelsJob) {
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome(), AssignSh(5, "echo up; sleep 1000")});
    if (m.has_console() && absl::StrContains(m.console().data(), "up\n")) {
      ControllerMessage cancel;
      cancel.mutable_cancel()->set_attempt_id(5);
      cancel.mutable_cancel()->set_reason("cancelled by bob");
      return Send({cancel});
    }
    if (m.has_job_completed()) return Send({CompletionAck(5)});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 1, AgentMessage::kJobCompleted); }));
  auto done = Of(fake_.received(), 1, AgentMessage::kJobCompleted);
  EXPECT_EQ(done[0].job_completed().result(), "cancelled");
  EXPECT_EQ(done[0].job_completed().reason(), "cancelled by bob");
}

// Abandon kills the job and forgets it (no completion is ever reported);
// the agent is free for the next assignment straight away.
TEST_F(SessionTest, AbandonForgetsTheAttempt) {
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome(), AssignSh(1, "echo up; sleep 1000")});
    if (m.has_console() && m.console().attempt_id() == 1 &&
        absl::StrContains(m.console().data(), "up\n")) {
      ControllerMessage abandon;
      abandon.mutable_abandon()->set_attempt_id(1);
      abandon.mutable_abandon()->set_reason("given to another agent");
      return Send({abandon, AssignSh(2, "echo second job")});
    }
    if (m.has_job_completed()) return Send({CompletionAck(2)});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 1, AgentMessage::kJobCompleted); }));
  auto done = Of(fake_.received(), 1, AgentMessage::kJobCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job_completed().attempt_id(), 2);
  EXPECT_EQ(done[0].job_completed().result(), "passed");
  for (const auto& r : fake_.received()) {
    if (r.message.has_task_result()) {
      EXPECT_EQ(r.message.task_result().attempt_id(), 2);
    }
  }
}

// Stop() during a job cancels it, reports the cancellation to the
// controller, and Run() returns.
TEST_F(SessionTest, StopCancelsTheRunningJobAndReportsIt) {
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome(), AssignSh(3, "echo up; sleep 1000")});
    if (m.has_job_completed()) return Send({CompletionAck(3)});
    return {};
  });
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor([](const std::vector<Received>& all) {
    for (const auto& r : all) {
      if (r.message.has_console() && absl::StrContains(r.message.console().data(), "up\n")) {
        return true;
      }
    }
    return false;
  }));
  StopAgent();
  auto done = Of(fake_.received(), 1, AgentMessage::kJobCompleted);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job_completed().result(), "cancelled");
  EXPECT_EQ(done[0].job_completed().reason(), "agent is shutting down");
}

// A standby controller: every agent call refused as the real one does.
class Standby final : public gantry::v1::AgentService::Service {
 public:
  explicit Standby(std::string leader) : leader_(std::move(leader)) {}

  grpc::Status Register(grpc::ServerContext*, const gantry::v1::RegisterRequest*,
                        gantry::v1::RegisterResponse*) override {
    calls_.fetch_add(1);
    return Refusal();
  }
  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<ControllerMessage, AgentMessage>*) override {
    calls_.fetch_add(1);
    return Refusal();
  }
  int calls() const { return calls_.load(); }

 private:
  grpc::Status Refusal() const {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("not the leader (leader at ", leader_, ")"));
  }
  const std::string leader_;
  std::atomic<int> calls_{0};
};

// Builds and starts a server for `service` on 127.0.0.1:0; *address is
// where it listens.
std::unique_ptr<grpc::Server> Serve(grpc::Service* service, std::string* address) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  *address = absl::StrCat("127.0.0.1:", port);
  return server;
}

// Given a standby first (--controller standby,leader), the agent's first
// registration is refused there and goes to the leader it names; the
// session follows.
TEST_F(SessionTest, RegistrationFindsTheLeader) {
  const std::string leader = absl::StrCat("127.0.0.1:", port_);
  Standby standby(leader);
  std::string standby_address;
  std::unique_ptr<grpc::Server> standby_server = Serve(&standby, &standby_address);
  ASSERT_NE(standby_server, nullptr);
  fake_.set_script([](int, const AgentMessage& m) -> Reaction {
    if (m.has_hello()) return Send({Welcome()});
    return {};
  });
  options_.controller_address = absl::StrCat(standby_address, ",", leader);
  StartAgent();
  ASSERT_TRUE(fake_.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 1, AgentMessage::kHeartbeat); }));
  EXPECT_EQ(fake_.registrations().size(), 1u);
  EXPECT_EQ(standby.calls(), 1) << "registration tried the standby more than once";
  StopAgent();
  standby_server->Shutdown(absl::ToChronoTime(absl::Now()));
}

// A takeover: the leader (first of the list) breaks the stream while a job
// is held; the other controller, still a standby at first, names the old
// one, which now refuses too; once it leads, the agent is welcomed there
// and re-reports the attempt it kept, whole, once.
TEST_F(SessionTest, TakeoverMovesTheAgentAndItsKeptAttempt) {
  constexpr int64_t kAttempt = 41;
  FakeController second;
  std::string second_address;
  std::unique_ptr<grpc::Server> second_server = Serve(&second, &second_address);
  ASSERT_NE(second_server, nullptr);
  const std::string first_address = absl::StrCat("127.0.0.1:", port_);
  fake_.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (conn == 1 && m.has_hello()) return Send({Welcome(), AssignSh(kAttempt, "echo kept")});
    if (conn == 1 && m.has_job_completed()) {
      return End(grpc::StatusCode::UNAVAILABLE, "leader lease lost");
    }
    if (m.has_hello()) {
      return End(grpc::StatusCode::UNAVAILABLE,
                 absl::StrCat("not the leader (leader at ", second_address, ")"));
    }
    return {};
  });
  second.set_script([&](int conn, const AgentMessage& m) -> Reaction {
    if (conn == 1 && m.has_hello()) {
      return End(grpc::StatusCode::UNAVAILABLE,
                 absl::StrCat("not the leader (leader at ", first_address, ")"));
    }
    if (m.has_hello()) return Send({Welcome()});
    if (m.has_job_completed()) {
      return Send(
          {ConsoleAck(kAttempt, m.job_completed().last_sequence()), CompletionAck(kAttempt)});
    }
    return {};
  });
  options_.controller_address = absl::StrCat(first_address, ",", second_address);
  StartAgent();
  ASSERT_TRUE(second.WaitFor([](const std::vector<Received>& all) {
    return Has(all, 2, AgentMessage::kJobCompleted);
  })) << "the agent did not re-report its attempt to the new leader";
  ASSERT_TRUE(second.WaitFor(
      [](const std::vector<Received>& all) { return Has(all, 2, AgentMessage::kHeartbeat); }));
  auto first_all = fake_.received();
  ASSERT_EQ(Of(first_all, 1, AgentMessage::kJobCompleted).size(), 1u);
  EXPECT_TRUE(Has(first_all, 2, AgentMessage::kHello)) << "the named old leader was not tried";

  auto all = second.received();
  auto hello = Of(all, 2, AgentMessage::kHello);
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_EQ(hello[0].hello().agent_id(), "agent-1");
  ASSERT_EQ(hello[0].hello().held_size(), 1);
  EXPECT_EQ(hello[0].hello().held(0).attempt_id(), kAttempt);
  EXPECT_TRUE(hello[0].hello().held(0).finished());
  std::string console = ExpectPassedOnce(all, 2, kAttempt);
  EXPECT_THAT(console, HasSubstr("\nkept\n"));
  EXPECT_TRUE(second.registrations().empty()) << "registered again at the new leader";
  StopAgent();
  second_server->Shutdown(absl::ToChronoTime(absl::Now()));
}

}  // namespace
}  // namespace gantry::agent
