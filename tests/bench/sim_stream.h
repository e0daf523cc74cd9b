// One Session stream of one simulated agent (sim_agents.h): a gRPC callback
// reactor with an outgoing queue. Lives until OnDone; a reconnect makes a new
// one. Lock order: SimAgent::mu_, then StreamReactor::mu_.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>

#include "absl/time/time.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::bench {

class Fleet;
class SimAgent;

class StreamReactor final
    : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  // `channel` is kept alive as long as the stream (a channel dialled for
  // this attempt only).
  StreamReactor(Fleet* fleet, SimAgent* agent, v1::AgentService::Stub* stub,
                std::shared_ptr<grpc::Channel> channel, const v1::AgentMessage& hello);

  void Start() { StartCall(); }
  void Enqueue(const v1::AgentMessage& message);
  void Cancel() { context_.TryCancel(); }
  // Messages queued and not yet written (the one being written included).
  size_t queued();
  // When the write in flight started; InfiniteFuture if none is.
  absl::Time write_started();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  void StartWriteLocked();

  Fleet* fleet_;
  SimAgent* agent_;
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext context_;
  v1::ControllerMessage incoming_;
  bool got_message_ = false;  // reaction threads only

  std::mutex mu_;
  std::deque<v1::AgentMessage> outgoing_;
  bool writing_ = false;
  bool dead_ = false;
  absl::Time write_started_ = absl::InfiniteFuture();
};

}  // namespace gantry::bench
