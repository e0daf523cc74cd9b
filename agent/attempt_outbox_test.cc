#include "agent/attempt_outbox.h"

#include <gtest/gtest.h>

namespace gantry::agent {
namespace {

using gantry::v1::AgentMessage;

std::string Kinds(const std::vector<AgentMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (!out.empty()) out += ",";
    switch (m.kind_case()) {
      case AgentMessage::kJobStarted:
        out += "started";
        break;
      case AgentMessage::kConsole:
        out += "c" + std::to_string(m.console().sequence());
        break;
      case AgentMessage::kTaskResult:
        out += "t" + std::to_string(m.task_result().task_index());
        break;
      case AgentMessage::kJobCompleted:
        out += "done";
        break;
      default:
        out += "?";
    }
  }
  return out;
}

// Chunks get contiguous sequence numbers from 1; the completion carries the
// last one; Hello's held entry reflects both.
TEST(AttemptOutboxTest, NumbersChunksAndReportsHeld) {
  AttemptOutbox box;
  ASSERT_TRUE(box.Open(7));
  EXPECT_FALSE(box.Open(7));
  box.Started(7);
  EXPECT_EQ(box.Console(7, "a")->console().sequence(), 1);
  EXPECT_EQ(box.Console(7, "b")->console().sequence(), 2);
  auto held = box.Held();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].last_sequence(), 2);
  EXPECT_FALSE(held[0].finished());
  auto done = box.Completed(7, {JobResult::kPassed, ""});
  EXPECT_EQ(done->job_completed().last_sequence(), 2);
  EXPECT_EQ(done->job_completed().result(), "passed");
  EXPECT_TRUE(box.Held()[0].finished());
  // Nothing more can be recorded after the completion.
  EXPECT_FALSE(box.Console(7, "late").has_value());
}

// A ConsoleAck drops the acked chunks and whatever was produced before
// them, keeping later task results and the completion for re-sending.
TEST(AttemptOutboxTest, ConsoleAckCoversEverythingBefore) {
  AttemptOutbox box;
  box.Open(1);
  box.Started(1);
  box.Console(1, "x");                              // c1
  box.TaskResult(1, {0, TaskOutcome::kPassed, 0});  // before c2
  box.Console(1, "y");                              // c2
  box.TaskResult(1, {1, TaskOutcome::kFailed, 2});  // after c2
  box.Completed(1, {JobResult::kFailed, "task 2"});
  EXPECT_EQ(Kinds(box.Backlog()), "started,c1,t0,c2,t1,done");
  box.AckConsole(1, 1);
  EXPECT_EQ(Kinds(box.Backlog()), "t0,c2,t1,done");
  box.AckConsole(1, 2);
  EXPECT_EQ(Kinds(box.Backlog()), "t1,done");
  box.AckConsole(1, 1);  // stale acks change nothing
  EXPECT_EQ(Kinds(box.Backlog()), "t1,done");
}

// An ack beyond the last chunk produced covers only what exists, not
// chunks produced afterwards.
TEST(AttemptOutboxTest, AckBeyondProducedIsClamped) {
  AttemptOutbox box;
  box.Open(1);
  box.Console(1, "a");  // c1
  box.AckConsole(1, 5);
  EXPECT_EQ(Kinds(box.Backlog()), "");
  box.Console(1, "b");  // c2
  box.Console(1, "c");  // c3
  box.AckConsole(1, 2);
  EXPECT_EQ(Kinds(box.Backlog()), "c3");
}

// CompletionAck forgets only a finished attempt; Forget drops any, and
// reports about a forgotten attempt are refused.
TEST(AttemptOutboxTest, CompletionAckAndForget) {
  AttemptOutbox box;
  box.Open(1);
  box.Open(2);
  box.Console(1, "x");
  EXPECT_FALSE(box.AckCompletion(1));  // still running
  box.Completed(1, {JobResult::kPassed, ""});
  EXPECT_TRUE(box.AckCompletion(1));
  EXPECT_FALSE(box.Holds(1));
  box.Forget(2);
  EXPECT_TRUE(box.Empty());
  EXPECT_FALSE(box.Console(2, "x").has_value());
  EXPECT_FALSE(box.Started(2).has_value());
}

}  // namespace
}  // namespace gantry::agent
