// The scheduler's handle on one agent's open Session stream. Implemented by
// the gRPC adapter; both calls are thread-safe and never block.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "gantry/v1/agent.pb.h"

namespace gantry {

class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // Queues a message; dropped silently once the stream has ended.
  virtual void Send(const v1::ControllerMessage& message) = 0;
  // Ends the stream with `status` after queued messages are written.
  virtual void Close(const absl::Status& status) = 0;
  // Reading stopped because the scheduler's inbox was full; read again.
  virtual void ResumeReads() {}
  // The agent's address as gRPC gives it ("ipv4:10.0.0.5:43122"), for
  // messages and the audit log.
  virtual std::string peer() const { return ""; }
};

}  // namespace gantry
