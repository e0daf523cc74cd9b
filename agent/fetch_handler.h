// The seam for `fetch` tasks (artifacts from this or an upstream pipeline).
// Artifact download is a later issue: until then the runner uses
// UnsupportedFetchHandler, which fails the task with a clear console line.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

class FetchHandler {
 public:
  // Appends text to the job's console (masked and batched like task output).
  using Console = std::function<void(std::string_view)>;

  virtual ~FetchHandler() = default;
  // Fetches into `job_dir`/task.destination. A non-OK status fails the task;
  // its message is printed to the console.
  virtual absl::Status Fetch(const gantry::v1::FetchTask& task,
                             const std::string& job_dir,
                             const Console& console) = 0;
};

class UnsupportedFetchHandler : public FetchHandler {
 public:
  absl::Status Fetch(const gantry::v1::FetchTask& task,
                     const std::string& job_dir,
                     const Console& console) override {
    return absl::UnimplementedError(
        "fetch tasks are not supported by this agent yet");
  }
};

}  // namespace gantry::agent
