#include "tests/bench/sim_stream.h"

#include "absl/time/clock.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {

StreamReactor::StreamReactor(Fleet* fleet, SimAgent* agent, v1::AgentService::Stub* stub,
                             std::shared_ptr<grpc::Channel> channel, const v1::AgentMessage& hello)
    : fleet_(fleet), agent_(agent), channel_(std::move(channel)) {
  stub->async()->Session(&context_, this);
  // Held until the read side ends, so writes from other threads (heartbeats,
  // job reports) never race with OnDone.
  AddHold();
  StartRead(&incoming_);
  std::lock_guard<std::mutex> lock(mu_);
  outgoing_.push_back(hello);
  StartWriteLocked();
}

void StreamReactor::StartWriteLocked() {
  writing_ = true;
  write_started_ = absl::Now();
  StartWrite(&outgoing_.front());
}

void StreamReactor::Enqueue(const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dead_) return;
  outgoing_.push_back(message);
  if (!writing_) StartWriteLocked();
}

size_t StreamReactor::queued() {
  std::lock_guard<std::mutex> lock(mu_);
  return outgoing_.size();
}

absl::Time StreamReactor::write_started() {
  std::lock_guard<std::mutex> lock(mu_);
  return writing_ ? write_started_ : absl::InfiniteFuture();
}

void StreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dead_ = true;
    }
    RemoveHold();
    return;
  }
  got_message_ = true;
  fleet_->OnMessage(*agent_, incoming_);
  StartRead(&incoming_);
}

void StreamReactor::OnWriteDone(bool ok) {
  bool idle = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok && outgoing_.front().has_console()) fleet_->CountConsoleWritten();
    outgoing_.pop_front();
    writing_ = false;
    if (!ok) {
      dead_ = true;  // the read side fails too and releases the hold
      return;
    }
    if (dead_) return;
    if (!outgoing_.empty()) {
      StartWriteLocked();
    } else {
      idle = true;
    }
  }
  // OnDone cannot run before this returns: the agent may queue more.
  if (idle) fleet_->OnStreamIdle(*agent_);
}

void StreamReactor::OnDone(const grpc::Status& status) {
  // The reactor (its ClientContext holds the call) must be gone before the
  // fleet counts the stream ended: Shutdown then frees the channels.
  Fleet* fleet = fleet_;
  bool was_welcomed = fleet->DetachStream(*agent_, this, got_message_);
  delete this;
  fleet->StreamEnded(was_welcomed);
}

}  // namespace gantry::bench
