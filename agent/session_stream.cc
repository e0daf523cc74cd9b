// One Session stream: the Hello that opens it, the reader that hands
// controller messages to Handle() and the writer, the stream's only writer.
#include <thread>

#include "agent/session.h"

namespace gantry::agent {

using gantry::v1::AgentMessage;
using gantry::v1::ControllerMessage;

AgentMessage Session::MakeHello() {
  AgentMessage m;
  auto* hello = m.mutable_hello();
  hello->set_agent_id(identity_->agent_id);
  hello->set_token(identity_->token);
  for (auto& held : outbox_.Held()) *hello->add_held() = std::move(held);
  for (int64_t id : interrupted_) {
    auto* held = hello->add_held();
    held->set_attempt_id(id);
    held->set_interrupted(true);
  }
  for (const auto& r : options_.resources) hello->add_resources(r);
  for (const auto& e : options_.environments) hello->add_environments(e);
  hello->set_hostname(options_.hostname);
  hello->set_session_nonce(session_nonce_);
  return m;
}

Session::StreamEnd Session::RunStream(gantry::v1::AgentService::StubInterface& stub) {
  // No deadline: the stream lives as long as the connection; keepalive
  // detects a dead peer.
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {grpc::Status(grpc::StatusCode::CANCELLED, "stopping")};
    context_ = &context;
    stream_up_ = true;
    reader_done_ = false;
    got_message_ = false;
    welcomed_ = false;
    closing_ = false;
    queue_.clear();
    queue_.push_back(MakeHello());
  }
  absl::Time welcome_deadline = absl::Now() + options_.rpc_timeout;
  std::unique_ptr<Stream> stream = stub.Session(&context);
  std::thread writer([this, s = stream.get()] { WriterLoop(s); });
  std::thread reader([this, s = stream.get()] { ReaderLoop(s); });
  Supervise(welcome_deadline);
  reader.join();
  {
    absl::MutexLock lock(&mu_);
    stream_up_ = false;
    cv_.SignalAll();
  }
  writer.join();
  StreamEnd end;
  end.status = stream->Finish();
  absl::MutexLock lock(&mu_);
  end.got_message = got_message_;
  end.welcomed = welcomed_;
  context_ = nullptr;
  welcomed_ = false;
  queue_.clear();
  return end;
}

void Session::ReaderLoop(Stream* stream) {
  ControllerMessage message;
  while (stream->Read(&message)) {
    {
      absl::MutexLock lock(&mu_);
      got_message_ = true;
    }
    Handle(message);
  }
  absl::MutexLock lock(&mu_);
  reader_done_ = true;
  stream_up_ = false;
  cv_.SignalAll();
}

void Session::WriterLoop(Stream* stream) {
  mu_.Lock();
  while (true) {
    while (stream_up_ && queue_.empty() && !closing_ &&
           !(welcomed_ && absl::Now() >= next_heartbeat_)) {
      if (welcomed_) {
        cv_.WaitWithDeadline(&mu_, next_heartbeat_);
      } else {
        cv_.Wait(&mu_);
      }
    }
    if (!stream_up_) break;
    AgentMessage message;
    bool half_close = false;
    if (welcomed_ && absl::Now() >= next_heartbeat_) {
      // On a fixed schedule even while busy: the controller's liveness
      // check should not depend on how much output a job makes.
      message.mutable_heartbeat();
      next_heartbeat_ = absl::Now() + heartbeat_interval_;
    } else if (!queue_.empty()) {
      message = std::move(queue_.front());
      queue_.pop_front();
    } else {
      half_close = true;
    }
    writing_ = true;
    mu_.Unlock();
    bool ok = half_close ? stream->WritesDone() : stream->Write(message);
    mu_.Lock();
    writing_ = false;
    cv_.SignalAll();
    if (!ok) {
      // The stream is broken; make sure the reader notices too.
      if (context_ != nullptr) context_->TryCancel();
      break;
    }
    if (half_close) break;
  }
  mu_.Unlock();
}

void Session::Deliver(std::optional<AgentMessage> message) {
  if (!message || !stream_up_ || !welcomed_) return;
  queue_.push_back(std::move(*message));
  cv_.SignalAll();
}

}  // namespace gantry::agent
