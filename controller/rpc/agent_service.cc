#include "controller/rpc/agent_service.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "common/grpc_status.h"
#include "controller/rpc/artifact_streams.h"

namespace gantry::rpc {
namespace {

class SessionReactor;

// The scheduler's handle: outlives the reactor, and turns into a no-op once
// the stream is done.
class SessionChannel final : public AgentChannel {
 public:
  SessionChannel(SessionReactor* reactor, std::string peer)
      : reactor_(reactor), peer_(std::move(peer)) {}
  void Send(const v1::ControllerMessage& message) override;
  void Close(const absl::Status& status) override;
  void ResumeReads() override;
  std::string peer() const override { return peer_; }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    reactor_ = nullptr;
  }

 private:
  std::mutex mu_;
  SessionReactor* reactor_;
  const std::string peer_;
};

class SessionReactor final
    : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  SessionReactor(Scheduler* scheduler, std::string peer)
      : scheduler_(scheduler), channel_(std::make_shared<SessionChannel>(this, std::move(peer))) {
    StartRead(&incoming_);
  }

  void Enqueue(const v1::ControllerMessage& message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_requested_) return;
    outgoing_.push_back(message);
    MaybeWriteLocked();
  }

  void RequestFinish(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finish_requested_) return;
    finish_requested_ = true;
    finish_status_ = status;
    MaybeWriteLocked();
  }

  void OnReadDone(bool ok) override {
    bool keep_reading = true;
    if (!ok) {
      // The agent went away or half-closed: end our side too.
      RequestFinish(grpc::Status::OK);
      return;
    }
    if (!hello_seen_) {
      if (incoming_.kind_case() != v1::AgentMessage::kHello) {
        RequestFinish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "the first message must be a hello"));
        return;
      }
      hello_seen_ = true;
      keep_reading = scheduler_->AgentConnected(channel_, incoming_.hello());
    } else {
      keep_reading = scheduler_->AgentMessage(channel_, incoming_);
    }
    // A full inbox: the next read waits for ResumeReads, and gRPC's flow
    // control holds the agent back meanwhile.
    if (keep_reading) StartRead(&incoming_);
  }

  void Resume() { StartRead(&incoming_); }

  void OnCancel() override {
    // The agent went away while no read was pending (reading paused).
    RequestFinish(grpc::Status::OK);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      // The stream is broken; nothing more will be written.
      outgoing_.clear();
      if (!finish_requested_) {
        finish_requested_ = true;
        finish_status_ = grpc::Status::OK;
      }
    } else {
      outgoing_.pop_front();
    }
    MaybeWriteLocked();
  }

  void OnDone() override {
    channel_->Detach();
    if (hello_seen_) scheduler_->AgentDisconnected(channel_);
    delete this;
  }

 private:
  void MaybeWriteLocked() {
    if (writing_ || finished_) return;
    if (!outgoing_.empty() && !(finish_requested_ && !finish_status_.ok())) {
      writing_ = true;
      StartWrite(&outgoing_.front());
      return;
    }
    if (finish_requested_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  Scheduler* scheduler_;
  std::shared_ptr<SessionChannel> channel_;
  v1::AgentMessage incoming_;
  bool hello_seen_ = false;

  std::mutex mu_;
  std::deque<v1::ControllerMessage> outgoing_;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finished_ = false;
  grpc::Status finish_status_;
};

void SessionChannel::Send(const v1::ControllerMessage& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ != nullptr) reactor_->Enqueue(message);
}

void SessionChannel::ResumeReads() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ != nullptr) reactor_->Resume();
}

void SessionChannel::Close(const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reactor_ != nullptr) reactor_->RequestFinish(ToGrpcStatus(status));
}

}  // namespace

grpc::ServerUnaryReactor* AgentService::Register(grpc::CallbackServerContext* ctx,
                                                 const v1::RegisterRequest* req,
                                                 v1::RegisterResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  scheduler_->Register(*req, ctx->peer(), [reactor, resp](absl::StatusOr<v1::RegisterResponse> r) {
    if (!r.ok()) {
      reactor->Finish(ToGrpcStatus(r.status()));
      return;
    }
    *resp = std::move(*r);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentService::Session(
    grpc::CallbackServerContext* ctx) {
  return new SessionReactor(scheduler_, ctx->peer());
}

grpc::ServerReadReactor<v1::UploadArtifactRequest>* AgentService::UploadArtifact(
    grpc::CallbackServerContext*, v1::UploadArtifactResponse* resp) {
  return NewUploadReactor(artifacts_, resp);
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* AgentService::DownloadArtifact(
    grpc::CallbackServerContext*, const v1::DownloadArtifactRequest* req) {
  return NewDownloadReactor(artifacts_, *req);
}

}  // namespace gantry::rpc
