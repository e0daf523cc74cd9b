// What the agent still owes the controller, per attempt it holds.
//
// Every message about an attempt (JobStarted, ConsoleChunk, TaskResult,
// JobCompleted) is recorded here in the order the job produced it, and kept
// until the controller has acknowledged it:
//   - ConsoleAck(seq) covers the chunks up to seq and every message produced
//     before chunk seq: the controller handles a stream in order and the
//     agent always sends in production order, so whatever preceded chunk seq
//     on the wire has been handled too;
//   - CompletionAck covers JobCompleted (and anything left) and ends the
//     attempt.
// After a reconnect, Backlog() is sent right after the Welcome, before
// anything newer, so the controller sees no gaps. Messages before the last
// ack can therefore arrive twice (JobStarted, TaskResult): the controller
// treats them as idempotent; chunks it dedups by sequence.
//
// Not thread-safe: the session guards it with its mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "agent/job_sink.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

class AttemptOutbox {
 public:
  // Starts holding `attempt_id` (on Assign). False if it is already held.
  bool Open(int64_t attempt_id);
  bool Holds(int64_t attempt_id) const;
  // True once Completed() was recorded for it.
  bool Finished(int64_t attempt_id) const;

  // Each records a message about a held attempt and returns it, to be sent
  // now if a stream is up. nullopt when the attempt is not held (it was
  // abandoned): drop the message.
  std::optional<gantry::v1::AgentMessage> Started(int64_t attempt_id);
  // Assigns the next sequence number (1, 2, ...).
  std::optional<gantry::v1::AgentMessage> Console(int64_t attempt_id,
                                                  std::string data);
  std::optional<gantry::v1::AgentMessage> TaskResult(int64_t attempt_id,
                                                     const TaskReport& report);
  std::optional<gantry::v1::AgentMessage> Completed(int64_t attempt_id,
                                                    const JobReport& report);

  void AckConsole(int64_t attempt_id, int64_t sequence);
  // Forgets a finished attempt. False (and nothing changes) if the attempt
  // is not held or has not finished.
  bool AckCompletion(int64_t attempt_id);
  // Forgets an attempt and everything unsent about it (Abandon).
  void Forget(int64_t attempt_id);
  void Clear();
  // True when no attempt is held (everything acknowledged).
  bool Empty() const { return attempts_.empty(); }

  // For Hello: each held attempt, its last sequence and finished flag.
  std::vector<gantry::v1::HeldAttempt> Held() const;
  // Every unacknowledged message, by attempt (oldest first), in order.
  std::vector<gantry::v1::AgentMessage> Backlog() const;
  // Unacknowledged messages for one attempt (tests, metrics).
  size_t PendingCount(int64_t attempt_id) const;

 private:
  struct Item {
    gantry::v1::AgentMessage message;
    // A ConsoleAck at or past this sequence covers the item.
    int64_t covered_by;
  };
  struct Attempt {
    int64_t id = 0;
    int64_t next_sequence = 1;
    int64_t acked = 0;
    bool finished = false;
    std::deque<Item> items;
  };

  Attempt* Find(int64_t attempt_id);
  const Attempt* Find(int64_t attempt_id) const;
  std::optional<gantry::v1::AgentMessage> Record(
      int64_t attempt_id, gantry::v1::AgentMessage message, bool is_chunk,
      bool is_completion);

  std::deque<Attempt> attempts_;  // in Open order
};

}  // namespace gantry::agent
