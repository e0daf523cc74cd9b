// Writes agent_message_fuzz's seed inputs into the directory given:
//
//   agent_message_corpus fuzz/corpus/agent_message_fuzz
//
// Each seed is a story the fuzzer can vary step by step. At the start of
// every input A holds attempt 1 and B attempt 2 (the jobs of two/first); the
// fanout copies and later stages become attempts 3, 4, ... as they are
// assigned and seen at a sync step (agent_message_input.h: numbered by
// session, then by order sent).
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz/agent_message_input.h"

namespace {

using gantry::fuzz::InputWriter;
using gantry::fuzz::kAgentA;
using gantry::fuzz::kAgentB;
using gantry::fuzz::kAgentC;
using gantry::fuzz::kAgentUnknown;
using gantry::fuzz::StepKind;
namespace v1 = gantry::v1;

v1::AgentMessage Hello(const std::string& claim = "", const std::string& token = "",
                       const std::string& nonce = "") {
  v1::AgentMessage m;
  m.mutable_hello()->set_agent_id(claim);
  m.mutable_hello()->set_token(token);
  m.mutable_hello()->set_session_nonce(nonce);
  m.mutable_hello()->set_hostname("host");
  return m;
}
v1::AgentMessage HelloHolding(int64_t attempt, bool finished) {
  v1::AgentMessage m = Hello();
  auto* held = m.mutable_hello()->add_held();
  held->set_attempt_id(attempt);
  held->set_finished(finished);
  held->set_last_sequence(1);
  return m;
}
v1::AgentMessage Started(int64_t attempt) {
  v1::AgentMessage m;
  m.mutable_job_started()->set_attempt_id(attempt);
  return m;
}
v1::AgentMessage Console(int64_t attempt, int64_t sequence, const std::string& data) {
  v1::AgentMessage m;
  m.mutable_console()->set_attempt_id(attempt);
  m.mutable_console()->set_sequence(sequence);
  m.mutable_console()->set_data(data);
  return m;
}
v1::AgentMessage Task(int64_t attempt, int index, const std::string& outcome) {
  v1::AgentMessage m;
  m.mutable_task_result()->set_attempt_id(attempt);
  m.mutable_task_result()->set_task_index(index);
  m.mutable_task_result()->set_outcome(outcome);
  return m;
}
v1::AgentMessage Completed(int64_t attempt, const std::string& result, int64_t last = 0) {
  v1::AgentMessage m;
  m.mutable_job_completed()->set_attempt_id(attempt);
  m.mutable_job_completed()->set_result(result);
  m.mutable_job_completed()->set_reason(result == "passed" ? "" : "exit status 1");
  m.mutable_job_completed()->set_last_sequence(last);
  return m;
}
v1::AgentMessage Heartbeat() {
  v1::AgentMessage m;
  m.mutable_heartbeat();
  return m;
}

// The whole life of a job on the agent that holds it.
void Lifecycle(InputWriter& w, int agent, int64_t attempt, const std::string& result) {
  w.Message(agent, Started(attempt));
  w.Message(agent, Console(attempt, 1, "compiling\n"));
  w.Message(agent, Console(attempt, 2, "done\n"));
  w.Message(agent, Task(attempt, 0, result));
  w.Message(agent, Completed(attempt, result, 2));
}

bool Write(const std::string& dir, const std::string& name, const InputWriter& w) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << w.bytes();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;

  // Both jobs of stage one pass, then the fanout copies and stage two on
  // whoever got them, then the downstream run that triggers.
  InputWriter lifecycle;
  Lifecycle(lifecycle, kAgentA, 1, "passed");
  Lifecycle(lifecycle, kAgentB, 2, "passed");
  lifecycle.Step(kAgentA, StepKind::kSync);
  Lifecycle(lifecycle, kAgentA, 3, "passed");  // A's fanout copy
  Lifecycle(lifecycle, kAgentB, 4, "passed");  // B's
  lifecycle.Step(kAgentA, StepKind::kSync);
  lifecycle.Message(kAgentC, Hello());
  lifecycle.Step(kAgentC, StepKind::kSync);
  Lifecycle(lifecycle, kAgentB, 5, "passed");  // two/second/c
  Lifecycle(lifecycle, kAgentC, 6, "passed");  // C's fanout copy
  lifecycle.Step(kAgentA, StepKind::kSync);
  for (int agent : {kAgentA, kAgentB, kAgentC}) Lifecycle(lifecycle, agent, 7, "passed");
  ok &= Write(dir, "lifecycle", lifecycle);

  // Every report twice, in one batch and across batches; completions that
  // disagree.
  InputWriter duplicates;
  for (int i = 0; i < 2; ++i) Lifecycle(duplicates, kAgentA, 1, "passed");
  duplicates.Step(kAgentA, StepKind::kSync);
  Lifecycle(duplicates, kAgentA, 1, "passed");
  duplicates.Message(kAgentA, Completed(1, "failed"));
  duplicates.Message(kAgentB, Started(2));
  duplicates.Message(kAgentB, Started(2));
  duplicates.Message(kAgentB, Console(2, 1, "x\n"));
  duplicates.Message(kAgentB, Console(2, 1, "x again\n"));
  duplicates.Message(kAgentB, Completed(2, "failed"));
  duplicates.Message(kAgentB, Completed(2, "passed"));
  duplicates.Message(kAgentB, Completed(2, "lost"));
  ok &= Write(dir, "duplicates", duplicates);

  // B reports on A's attempt, and an agent claims another's identity.
  InputWriter wrong;
  wrong.Message(kAgentB, Started(1));
  wrong.Message(kAgentB, Console(1, 1, "not mine\n"));
  wrong.Message(kAgentB, Completed(1, "passed"));
  wrong.Step(kAgentB, StepKind::kSync);
  wrong.Step(kAgentC, StepKind::kReconnect);
  wrong.Message(kAgentC, Hello("a", "", "a clone"));
  wrong.Step(kAgentC, StepKind::kReconnect);
  wrong.Message(kAgentC, Hello("b", "wrong token"));
  wrong.Message(kAgentUnknown, Hello());
  wrong.Message(kAgentUnknown, Started(1));
  wrong.Step(kAgentA, StepKind::kReconnect);
  wrong.Message(kAgentA, Hello("b"));
  wrong.Message(kAgentA, Completed(2, "passed"));
  wrong.Message(kAgentA, Hello());
  Lifecycle(wrong, kAgentA, 1, "failed");
  ok &= Write(dir, "wrong_agent", wrong);

  // Attempts that never existed, ids 0 and extremes, and the input's
  // not-yet-assigned slots.
  InputWriter bogus;
  for (int64_t id : {int64_t{0}, int64_t{-1}, int64_t{16}, int64_t{17}, int64_t{1} << 40, INT64_MAX,
                     INT64_MIN}) {
    bogus.Message(kAgentA, Started(id));
    bogus.Message(kAgentA, Console(id, 1, "?\n"));
    bogus.Message(kAgentA, Task(id, -1, "passed"));
    bogus.Message(kAgentA, Completed(id, "passed"));
  }
  bogus.Message(kAgentA, Console(1, 0, "sequence 0\n"));
  bogus.Message(kAgentA, Console(1, -5, "negative\n"));
  bogus.Message(kAgentA, Console(1, INT64_MAX, "last\n"));
  bogus.Message(kAgentA, Completed(1, "no such result"));
  bogus.Message(kAgentB, HelloHolding(12345678, false));
  bogus.Message(kAgentB, Heartbeat());
  ok &= Write(dir, "bogus_ids", bogus);

  // Output past the console cap (4 KiB in the fixture) and past the inbox
  // limit (16 KiB): truncation, then backpressure.
  InputWriter huge;
  huge.Message(kAgentA, Started(1));
  huge.Message(kAgentA, Console(1, 1, std::string(3000, 'a') + "\n" + std::string(100, 'b')));
  huge.Message(kAgentA, Console(1, 2, std::string(20000, 'c') + "\n"));
  huge.Message(kAgentA, Console(1, 3, "after the cap\n"));
  huge.Message(kAgentB, Console(2, 1, std::string(40000, '\0')));
  huge.Message(kAgentA, Completed(1, "passed", 3));
  ok &= Write(dir, "huge_console", huge);

  // Reconnects: the same process after a blip (the old stream still open),
  // a restarted agent that lost or finished its job, silence past the
  // lost-agent timeout, a second hello on one stream.
  InputWriter reconnect;
  reconnect.Message(kAgentA, Started(1));
  reconnect.Step(kAgentA, StepKind::kReconnect);
  reconnect.Message(kAgentA, HelloHolding(1, false));
  reconnect.Message(kAgentA, Console(1, 1, "still here\n"));
  reconnect.Step(kAgentB, StepKind::kDisconnect);
  reconnect.Message(kAgentB, Hello("", "", "restarted process"));
  reconnect.Step(kAgentB, StepKind::kSync);
  reconnect.AdvanceClock(30);
  reconnect.Message(kAgentA, Heartbeat());
  reconnect.AdvanceClock(30);
  reconnect.Step(kAgentA, StepKind::kSync);
  reconnect.Message(kAgentA, HelloHolding(1, true));
  reconnect.Message(kAgentA, Completed(1, "passed"));
  reconnect.Message(kAgentA, Hello());
  reconnect.Message(kAgentC, Started(3));
  ok &= Write(dir, "reconnect", reconnect);

  if (!ok) {
    std::fprintf(stderr, "could not write the seeds into %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
