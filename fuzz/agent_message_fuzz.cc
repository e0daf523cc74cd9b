// Agent input on a real Scheduler: every input is a script of agent sessions
// (agent_message_input.h) run against one Scheduler on a real PostgreSQL,
// started once per process (scheduler_fixture.h). Each input gets three new
// agents; A and B connect and are handed attempts of two triggered runs, then
// the input's steps send hellos, reports for real and bogus attempts from the
// right and the wrong agent, disconnect, reconnect and let time pass.
//
// Properties, at every sync step and at the end: nothing crashes; the
// scheduler still answers; no agent holds two attempts in the database; an
// agent holds an attempt in memory exactly when the database says so; a
// session paused by backpressure is resumed; nothing is logged as an error
// (the database is healthy, so no agent input may make a commit fail).
//
// Inputs are kept independent, so that a crash replays from its input alone:
// at the end every session ends, the clock passes the lost-agent timeout,
// every unfinished stage is cancelled and the agents are deleted; then no
// run or job may be left unfinished and no agent left registered.
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/scheduling/fake_agent_channel.h"
#include "fuzz/agent_message_input.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/scheduler_fixture.h"

namespace gantry::fuzz {
namespace {

// Bounds one input's time (each step may wait for the strand).
constexpr int kMaxSteps = 400;

struct Session {
  std::shared_ptr<FakeAgentChannel> channel =
      std::make_shared<FakeAgentChannel>("ipv4:127.0.0.1:1");
  bool hello_sent = false;  // the edge's rule: the first message is a hello
  bool ended = false;       // the stream is over
};

struct InputAgent {
  std::string id;
  std::string token;
  std::string nonce;  // its process (Hello.session_nonce)
  Session* session = nullptr;
};

// One input, from registering its agents to deleting them.
class Script {
 public:
  Script(SchedulerFixture& fixture, int64_t serial) : f_(fixture), serial_(serial) {}

  void Prologue();
  void Run(const uint8_t* data, size_t size);
  void Epilogue();

 private:
  Session& CurrentSession(int agent);
  void Message(int agent, const uint8_t* bytes, size_t size);
  void FillIn(int agent, v1::AgentMessage& m) const;
  int64_t Attempt(int64_t id) const;
  void EndSession(Session& s);
  void SyncStep();
  void CheckHolding();
  void CheckNoErrors(const char* when);

  SchedulerFixture& f_;
  int64_t serial_;
  InputAgent agents_[4];
  std::vector<std::unique_ptr<Session>> sessions_;  // in creation order
  std::vector<int64_t> slots_;                      // attempts handed to our agents
};

void Script::Prologue() {
  const char* names[] = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    std::string name = absl::StrCat("fuzz-", serial_, "-", names[i]);
    auto registered = f_.Register(name);
    FUZZ_CHECK(registered.ok(), "registering %s: %s", name.c_str(),
               registered.status().ToString().c_str());
    agents_[i] = {registered->agent_id(), registered->token(), name + "-process"};
  }
  agents_[kAgentUnknown] = {absl::StrCat("never-issued-", serial_), "no-token", "nobody"};
  for (int i : {kAgentA, kAgentB}) {
    v1::AgentMessage hello;
    hello.mutable_hello();
    std::string bytes = hello.SerializeAsString();
    Message(i, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  f_.scheduler().Sync();
  for (const char* pipeline : {"two", "fanout"}) {
    auto run = f_.Trigger(pipeline);
    FUZZ_CHECK(run.ok(), "triggering %s: %s", pipeline, run.status().ToString().c_str());
  }
  SyncStep();
}

void Script::Run(const uint8_t* data, size_t size) {
  size_t pos = 0;
  for (int steps = 0; pos < size && steps < kMaxSteps; ++steps) {
    uint8_t step = data[pos++];
    int agent = step & 3;
    int kind = (step >> 2) & 7;
    if (kind < static_cast<int>(StepKind::kDisconnect)) {
      uint64_t length = 0;
      int shift = 0;
      bool complete = false;
      while (pos < size && shift < 64) {
        uint8_t b = data[pos++];
        length |= static_cast<uint64_t>(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      length = std::min<uint64_t>({length, size - pos, kMaxMessageBytes});
      Message(agent, data + pos, length);
      pos += length;
    } else if (kind == static_cast<int>(StepKind::kDisconnect)) {
      if (Session* s = agents_[agent].session) EndSession(*s);
    } else if (kind == static_cast<int>(StepKind::kReconnect)) {
      agents_[agent].session = sessions_.emplace_back(std::make_unique<Session>()).get();
    } else if (kind == static_cast<int>(StepKind::kAdvanceClock)) {
      if (pos == size) break;
      f_.clock().Advance(absl::Milliseconds(100) * data[pos++]);
    } else {
      SyncStep();
    }
  }
  SyncStep();
}

Session& Script::CurrentSession(int agent) {
  Session*& s = agents_[agent].session;
  // An agent whose stream ended dials again.
  if (s == nullptr || s->ended) s = sessions_.emplace_back(std::make_unique<Session>()).get();
  return *s;
}

void Script::Message(int agent, const uint8_t* bytes, size_t size) {
  Session& s = CurrentSession(agent);
  v1::AgentMessage m;
  if (!m.ParseFromArray(bytes, static_cast<int>(size))) {
    // gRPC fails the stream on a message it cannot decode.
    EndSession(s);
    return;
  }
  FillIn(agent, m);
  bool keep_reading;
  if (!s.hello_sent) {
    // The edge refuses a stream that does not start with a hello, before
    // the scheduler hears of it.
    if (m.kind_case() != v1::AgentMessage::kHello) {
      s.ended = true;
      return;
    }
    s.hello_sent = true;
    keep_reading = f_.scheduler().AgentConnected(s.channel, m.hello());
  } else {
    keep_reading = f_.scheduler().AgentMessage(s.channel, m);
  }
  if (!keep_reading) {
    // The edge stops reading until the scheduler resumes it, which the
    // next drain must do.
    int resumes = s.channel->resumes();
    f_.scheduler().Sync();
    FUZZ_CHECK(s.channel->resumes() > resumes, "a session paused by backpressure was not resumed");
  }
}

int64_t Script::Attempt(int64_t id) const {
  if (id < 1 || id > kAttemptSlots) return id;
  size_t slot = static_cast<size_t>(id - 1);
  // An attempt the input has not seen yet: one that does not exist.
  return slot < slots_.size() ? slots_[slot] : -id;
}

void Script::FillIn(int agent, v1::AgentMessage& m) const {
  switch (m.kind_case()) {
    case v1::AgentMessage::kHello: {
      v1::Hello& h = *m.mutable_hello();
      const InputAgent* claimed = &agents_[agent];
      if (h.agent_id().size() == 1 && h.agent_id()[0] >= 'a' && h.agent_id()[0] <= 'd') {
        claimed = &agents_[h.agent_id()[0] - 'a'];
        h.clear_agent_id();
      } else if (!h.agent_id().empty()) {
        claimed = nullptr;
      }
      if (claimed != nullptr) h.set_agent_id(claimed->id);
      if (h.token().empty() && claimed != nullptr) h.set_token(claimed->token);
      if (h.session_nonce().empty() && claimed != nullptr) h.set_session_nonce(claimed->nonce);
      for (auto& held : *h.mutable_held()) held.set_attempt_id(Attempt(held.attempt_id()));
      return;
    }
    case v1::AgentMessage::kJobStarted:
      m.mutable_job_started()->set_attempt_id(Attempt(m.job_started().attempt_id()));
      return;
    case v1::AgentMessage::kConsole:
      m.mutable_console()->set_attempt_id(Attempt(m.console().attempt_id()));
      return;
    case v1::AgentMessage::kTaskResult:
      m.mutable_task_result()->set_attempt_id(Attempt(m.task_result().attempt_id()));
      return;
    case v1::AgentMessage::kJobCompleted:
      m.mutable_job_completed()->set_attempt_id(Attempt(m.job_completed().attempt_id()));
      return;
    case v1::AgentMessage::kHeartbeat:
    case v1::AgentMessage::KIND_NOT_SET:
      return;
  }
}

void Script::EndSession(Session& s) {
  if (s.ended) return;
  s.ended = true;
  // As the edge's OnDone: only a session whose hello was handed over.
  if (s.hello_sent) f_.scheduler().AgentDisconnected(s.channel);
}

void Script::SyncStep() {
  f_.scheduler().Sync();
  // What the controller did is read only here, so that between two syncs an
  // input means the same thing however the strand's batches fell.
  for (auto& s : sessions_) {
    for (const auto& m : s->channel->sent()) {
      if (m.kind_case() != v1::ControllerMessage::kAssign) continue;
      int64_t attempt = m.assign().attempt_id();
      if (std::find(slots_.begin(), slots_.end(), attempt) == slots_.end()) {
        slots_.push_back(attempt);
      }
    }
    if (!s->channel->closes().empty()) EndSession(*s);
  }
  f_.scheduler().Sync();
  CheckHolding();
  CheckNoErrors("after a sync step");
}

void Script::CheckHolding() {
  auto listed = f_.ListAgents();
  FUZZ_CHECK(listed.ok(), "ListAgents: %s", listed.status().ToString().c_str());
  auto twice = f_.Query(
      "SELECT agent_id, string_agg(id::text, ',') FROM job_runs "
      "WHERE state IN ('assigned', 'running') GROUP BY agent_id HAVING count(*) > 1");
  FUZZ_CHECK(twice.empty(), "agent %s holds attempts %s", twice[0][0].c_str(), twice[0][1].c_str());
  std::map<std::string, std::string> held;  // agent id -> attempt, per the database
  for (const auto& row :
       f_.Query("SELECT agent_id, id::text FROM job_runs WHERE state IN ('assigned', 'running')")) {
    held[row[0]] = row[1];
  }
  for (const auto& agent : listed->agents()) {
    bool building = !agent.building().empty();
    bool holds = held.count(agent.id()) != 0;
    FUZZ_CHECK(building == holds, "agent %s: memory says %s, the database %s", agent.name().c_str(),
               building ? absl::StrCat("building ", agent.building()).c_str() : "idle",
               holds ? absl::StrCat("holds attempt ", held[agent.id()]).c_str() : "holds none");
  }
}

void Script::CheckNoErrors(const char* when) {
  std::vector<std::string> errors = f_.TakeLoggedErrors();
  FUZZ_CHECK(errors.empty(), "the controller logged errors %s:\n%s", when,
             absl::StrJoin(errors, "").c_str());
}

void Script::Epilogue() {
  for (auto& s : sessions_) EndSession(*s);
  f_.scheduler().Sync();
  // Silent agents are lost, and so are their attempts.
  f_.clock().Advance(SchedulerFixture::kLostTimeout + SchedulerFixture::kTick);
  f_.scheduler().Sync();
  // Cancelling a stage can start nothing new, but a downstream run may have
  // been triggered in the meantime: a few rounds.
  for (int round = 0; round < 3; ++round) {
    auto open = f_.Query(
        "SELECT r.pipeline, r.counter::text, s.name FROM stage_runs s "
        "JOIN pipeline_runs r ON r.id = s.run_id WHERE s.state IN ('queued', 'building')");
    if (open.empty()) break;
    for (const auto& row : open) {
      (void)f_.CancelStage(row[0], std::stoll(row[1]), row[2]);
    }
    f_.scheduler().Sync();
  }
  for (int i : {kAgentA, kAgentB, kAgentC}) {
    auto deleted = f_.DeleteAgent(agents_[i].id);
    FUZZ_CHECK(deleted.ok(), "deleting agent %d at the end: %s", i,
               deleted.status().ToString().c_str());
  }
  auto unfinished = f_.Query(
      "SELECT 'job ' || id || ' ' || state FROM job_runs "
      "WHERE state IN ('scheduled', 'assigned', 'running') UNION ALL "
      "SELECT 'run ' || pipeline || '/' || counter || ' ' || state FROM pipeline_runs "
      "WHERE state IN ('building', 'awaiting_approval')");
  FUZZ_CHECK(unfinished.empty(), "left unfinished after cancelling everything: %s",
             unfinished[0][0].c_str());
  auto listed = f_.ListAgents();
  FUZZ_CHECK(listed.ok(), "ListAgents: %s", listed.status().ToString().c_str());
  FUZZ_CHECK(listed->agents().empty(), "agent %s still listed after it was deleted",
             listed->agents(0).name().c_str());
  CheckNoErrors("at the end of the input");
}

}  // namespace
}  // namespace gantry::fuzz

// OpenSSL (through libpq) keeps global state to the end of the process;
// LeakSanitizer would report it at the exit of every run.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcrypto.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gantry::fuzz::SchedulerFixture;
  // Undecodable strings (invalid UTF-8) are routine here; do not log each.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  static int64_t serial = 0;
  gantry::fuzz::Script script(SchedulerFixture::Get(), ++serial);
  script.Prologue();
  script.Run(data, size);
  script.Epilogue();
  return 0;
}
