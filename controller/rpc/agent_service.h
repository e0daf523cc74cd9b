// gRPC adapter for the agent protocol: Register (unary) and Session (one
// bidirectional stream per agent). A session reactor keeps one read and one
// write in flight, queues outgoing messages, and forwards everything it reads
// to the scheduler's strand.
#pragma once

#include "controller/scheduler.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::rpc {

class AgentService final : public v1::AgentService::CallbackService {
 public:
  explicit AgentService(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* req,
                                     v1::RegisterResponse* resp) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Session(
      grpc::CallbackServerContext* ctx) override;

 private:
  Scheduler* scheduler_;
};

}  // namespace gantry::rpc
