// The input format of agent_message_fuzz: what a byte string means as a
// sequence of agent sessions' events. Shared by the target (which decodes it)
// and the seed generator (which writes it).
//
// An input is a list of steps, read until the bytes run out. Each step is
// one byte, `agent | kind << 2`, and for messages a payload:
//
//   agent (bits 0-1)  0, 1, 2: the input's agents A, B, C (registered for
//                     this input; A and B are connected and hold attempts
//                     when the steps begin, C is not); 3: an agent id the
//                     controller never issued
//   kind (bits 2-4)   0-3 kMessage: a varint length, then that many bytes of
//                         a serialized gantry.v1.AgentMessage, read from the
//                         agent's current session. Bytes that do not parse
//                         end the session, as gRPC would.
//                     4 kDisconnect: the session's stream ends
//                     5 kReconnect: a new session (the old stream is left
//                         open: the controller has not noticed yet)
//                     6 kAdvanceClock: one more byte, times 100 ms
//                     7 kSync: wait for the scheduler, then check invariants
//
// The fields a fuzzer cannot guess are filled in (agent_message_fuzz.cc):
// a Hello with an empty agent_id claims the stepping agent's id, "a" "b" "c"
// claim that agent's; an empty token is the claimed agent's own; an empty
// session_nonce is the agent's own process. Attempt ids 1..16 (in reports and
// in Hello.held) mean the n-th attempt assigned to this input's agents, as
// known at the last sync (numbered by session, in the order sessions were
// opened, then in the order sent); other ids go through as they are (bogus).
//
// Why this shape: a flat byte stream libFuzzer can splice and cross over
// step by step, with each message in the wire format the edge really
// decodes, so mutations hit the protobuf parser and the handling behind it.
#pragma once

#include <cstdint>
#include <string>

#include "gantry/v1/agent.pb.h"

namespace gantry::fuzz {

enum class StepKind : uint8_t {
  kMessage = 0,  // 0-3
  kDisconnect = 4,
  kReconnect = 5,
  kAdvanceClock = 6,
  kSync = 7,
};

constexpr int kAgentA = 0, kAgentB = 1, kAgentC = 2, kAgentUnknown = 3;
// Attempt ids 1..kAttemptSlots name the input's assigned attempts.
constexpr int64_t kAttemptSlots = 16;
// A message longer than this is cut (the fuzzer's inputs are far shorter).
constexpr uint64_t kMaxMessageBytes = 1 << 20;

// Appends steps to an input (the seed generator).
class InputWriter {
 public:
  void Message(int agent, const v1::AgentMessage& m) {
    std::string bytes = m.SerializeAsString();
    Step(agent, StepKind::kMessage);
    uint64_t n = bytes.size();
    while (n >= 0x80) {
      out_.push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    out_.push_back(static_cast<char>(n));
    out_ += bytes;
  }
  void Step(int agent, StepKind kind) {
    out_.push_back(static_cast<char>((agent & 3) | (static_cast<int>(kind) << 2)));
  }
  void AdvanceClock(int tenths) {
    Step(0, StepKind::kAdvanceClock);
    out_.push_back(static_cast<char>(tenths));
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

}  // namespace gantry::fuzz
