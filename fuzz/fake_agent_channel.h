// An agent session as the scheduler sees it, for fuzz targets: records what
// the controller sent, whether it closed the stream, and whether it asked a
// paused session to read again. Thread-safe (the strand writes, the target
// reads).
#pragma once

#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "controller/agent_channel.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::fuzz {

class FakeAgentChannel final : public AgentChannel {
 public:
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
  std::string peer() const override { return "ipv4:127.0.0.1:1"; }

  std::vector<v1::ControllerMessage> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
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
  mutable std::mutex mu_;
  std::vector<v1::ControllerMessage> sent_;
  std::vector<absl::Status> closes_;
  int resumes_ = 0;
};

}  // namespace gantry::fuzz
