// An agent session as the scheduler sees it, for tests and fuzz targets:
// records what the controller sent, whether it closed the stream, and
// whether it asked a paused session to read again. Thread-safe (the strand
// writes, the test reads).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controller/agent_channel.h"
#include "gantry/v1/agent.pb.h"

namespace gantry {

class FakeAgentChannel final : public AgentChannel {
 public:
  using Kind = v1::ControllerMessage::KindCase;

  explicit FakeAgentChannel(std::string peer = "") : peer_(std::move(peer)) {}

  void Send(const v1::ControllerMessage& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(message);
  }
  void Close(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    closes_.push_back(status);
  }
  void ResumeReads() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++resumes_;
  }
  std::string peer() const override { return peer_; }

  std::vector<v1::ControllerMessage> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  // What was sent of one kind, in order.
  std::vector<v1::ControllerMessage> Sent(Kind kind) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<v1::ControllerMessage> out;
    for (const auto& m : sent_) {
      if (m.kind_case() == kind) out.push_back(m);
    }
    return out;
  }
  std::vector<Kind> Kinds() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Kind> out;
    for (const auto& m : sent_) out.push_back(m.kind_case());
    return out;
  }
  std::vector<absl::Status> closes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closes_;
  }
  int resumes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return resumes_;
  }

 private:
  const std::string peer_;
  mutable std::mutex mu_;
  std::vector<v1::ControllerMessage> sent_;
  std::vector<absl::Status> closes_;
  int resumes_ = 0;
};

}  // namespace gantry
