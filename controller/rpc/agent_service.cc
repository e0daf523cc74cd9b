#include "controller/rpc/agent_service.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <mutex>

#include "common/grpc_status.h"
#include "controller/rpc/artifact_streams.h"

namespace gantry::rpc {

struct AgentService::LiveSessions {
  std::mutex mu;
  std::multimap<std::string, std::weak_ptr<AgentChannel>> by_agent;

  void Add(const std::string& agent_id, std::weak_ptr<AgentChannel> channel) {
    std::lock_guard<std::mutex> lock(mu);
    by_agent.emplace(agent_id, std::move(channel));
  }
  void Remove(const std::string& agent_id, const AgentChannel* channel) {
    std::lock_guard<std::mutex> lock(mu);
    auto [begin, end] = by_agent.equal_range(agent_id);
    for (auto it = begin; it != end;) {
      auto held = it->second.lock();
      it = (!held || held.get() == channel) ? by_agent.erase(it) : std::next(it);
    }
  }
  void CloseAll(const std::string& agent_id, const absl::Status& why) {
    std::vector<std::shared_ptr<AgentChannel>> channels;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto [begin, end] = by_agent.equal_range(agent_id);
      for (auto it = begin; it != end; ++it) {
        if (auto held = it->second.lock()) channels.push_back(std::move(held));
      }
    }
    for (const auto& c : channels) {
      spdlog::warn("agent {}: closing its session from {}: {}", agent_id, c->peer(),
                   std::string(why.message()));
      c->Close(why);
    }
  }
};

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
  // `certs` null: no certificate check (plaintext); `serial` is the
  // client certificate's ("" without one).
  SessionReactor(Scheduler* scheduler, std::string peer, AgentCertificates* certs,
                 std::string serial, std::shared_ptr<AgentService::LiveSessions> live)
      : scheduler_(scheduler),
        channel_(std::make_shared<SessionChannel>(this, std::move(peer))),
        certs_(certs),
        serial_(std::move(serial)),
        live_(std::move(live)) {
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
        RequestFinish(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a hello"));
        return;
      }
      if (certs_ != nullptr) {
        // The certificate is the agent's identity; the token in the Hello
        // alone does not let anyone in.
        absl::Status st = certs_->Check(serial_, incoming_.hello().agent_id());
        if (!st.ok()) {
          spdlog::warn("agent session from {} refused: {}", channel_->peer(),
                       std::string(st.message()));
          RequestFinish(ToGrpcStatus(st));
          return;
        }
      }
      hello_seen_ = true;
      agent_id_ = incoming_.hello().agent_id();
      live_->Add(agent_id_, channel_);
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
    if (hello_seen_) {
      live_->Remove(agent_id_, channel_.get());
      scheduler_->AgentDisconnected(channel_);
    }
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
  AgentCertificates* certs_;
  const std::string serial_;
  std::shared_ptr<AgentService::LiveSessions> live_;
  v1::AgentMessage incoming_;
  bool hello_seen_ = false;
  std::string agent_id_;

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

AgentService::AgentService(Scheduler* scheduler, ArtifactService* artifacts,
                           AgentCertificates* certs, const LeaderLease* lease)
    : scheduler_(scheduler),
      artifacts_(artifacts),
      certs_(certs),
      lease_(lease),
      live_(std::make_shared<LiveSessions>()) {
  if (certs_ != nullptr) {
    certs_->set_revocation_listener(
        [live = live_](const std::string& agent_id, const absl::Status& why) {
          live->CloseAll(agent_id, why);
        });
  }
}

namespace {

// A call a standby refuses: finished as soon as it is made.
template <typename Reactor>
class Refused final : public Reactor {
 public:
  explicit Refused(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* AgentService::Register(grpc::CallbackServerContext* ctx,
                                                 const v1::RegisterRequest* req,
                                                 v1::RegisterResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (lease_ != nullptr && !lease_->serving()) {
    reactor->Finish(ToGrpcStatus(lease_->NotLeader()));
    return reactor;
  }
  // Without a CSR (an agent of before certificates, a simulated one) the
  // agent is registered without a certificate, and is refused at its Hello
  // unless --agent-token-auth.
  AgentCertificates* certs = req->csr().empty() ? nullptr : certs_;
  std::string csr = req->csr();
  scheduler_->Register(
      *req, ctx->peer(), [reactor, resp, certs, csr](absl::StatusOr<v1::RegisterResponse> r) {
        if (!r.ok()) {
          reactor->Finish(ToGrpcStatus(r.status()));
          return;
        }
        *resp = std::move(*r);
        if (certs == nullptr) {
          reactor->Finish(grpc::Status::OK);
          return;
        }
        certs->Issue(resp->agent_id(), csr, [reactor, resp](absl::StatusOr<std::string> cert) {
          if (!cert.ok()) {
            spdlog::error("agent {}: no certificate issued: {}", resp->agent_id(),
                          cert.status().ToString());
            reactor->Finish(ToGrpcStatus(cert.status()));
            return;
          }
          resp->set_certificate(*std::move(cert));
          reactor->Finish(grpc::Status::OK);
        });
      });
  return reactor;
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentService::Session(
    grpc::CallbackServerContext* ctx) {
  if (lease_ != nullptr && !lease_->serving()) {
    return new Refused<grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>>(
        lease_->NotLeader());
  }
  std::string serial = certs_ != nullptr ? AgentCertificates::PeerSerial(*ctx->auth_context()) : "";
  return new SessionReactor(scheduler_, ctx->peer(), certs_, std::move(serial), live_);
}

namespace {

// The artifact calls name their agent in AgentAuth; it must be the holder
// of the connection's certificate.
AgentCheck CheckFor(AgentCertificates* certs, grpc::CallbackServerContext* ctx) {
  if (certs == nullptr) return nullptr;
  return [certs, serial = AgentCertificates::PeerSerial(*ctx->auth_context()),
          peer = ctx->peer()](const std::string& agent_id) {
    absl::Status st = certs->Check(serial, agent_id);
    if (!st.ok())
      spdlog::warn("agent artifact call from {} refused: {}", peer, std::string(st.message()));
    return st;
  };
}

}  // namespace

grpc::ServerReadReactor<v1::UploadArtifactRequest>* AgentService::UploadArtifact(
    grpc::CallbackServerContext* ctx, v1::UploadArtifactResponse* resp) {
  if (lease_ != nullptr && !lease_->serving()) {
    return new Refused<grpc::ServerReadReactor<v1::UploadArtifactRequest>>(lease_->NotLeader());
  }
  return NewUploadReactor(artifacts_, resp, CheckFor(certs_, ctx));
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* AgentService::DownloadArtifact(
    grpc::CallbackServerContext* ctx, const v1::DownloadArtifactRequest* req) {
  if (lease_ != nullptr && !lease_->serving()) {
    return new Refused<grpc::ServerWriteReactor<v1::ArtifactStreamChunk>>(lease_->NotLeader());
  }
  return NewDownloadReactor(artifacts_, *req, CheckFor(certs_, ctx));
}

}  // namespace gantry::rpc
