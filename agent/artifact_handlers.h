// The seams through which a JobRunner moves artifacts: FetchHandler for
// `fetch` tasks, ArtifactUploader for a job's `artifacts:` after its tasks.
// The runner knows nothing about gRPC; artifact_client.h implements both
// over AgentService, tests may substitute their own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gantry/v1/agent.pb.h"

namespace gantry::agent {

// Lets the runner's Cancel/Abort (another thread) break a transfer that is
// blocked in I/O. A handler Arm()s it with a way to interrupt its current
// call (e.g. ClientContext::TryCancel) and Disarm()s it before that call's
// state goes away.
class TransferInterrupter {
 public:
  // `interrupt` must be fast and thread-safe. Runs at once if Interrupt()
  // already happened.
  void Arm(std::function<void()> interrupt) {
    absl::MutexLock lock(&mu_);
    interrupt_ = std::move(interrupt);
    if (interrupted_ && interrupt_) interrupt_();
  }
  // After Disarm returns, the function passed to Arm is no longer running
  // and will not run.
  void Disarm() {
    absl::MutexLock lock(&mu_);
    interrupt_ = nullptr;
  }
  void Interrupt() {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
    if (interrupt_) interrupt_();
  }
  bool interrupted() const {
    absl::MutexLock lock(&mu_);
    return interrupted_;
  }

 private:
  mutable absl::Mutex mu_;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> interrupt_ ABSL_GUARDED_BY(mu_);
};

// What a transfer needs to know about the job it runs for.
struct TransferContext {
  int64_t attempt_id = 0;
  // The job's working directory (absolute); nothing is read or written
  // outside it.
  std::string job_dir;
  // Appends text to the job's console (masked and batched like task output).
  // Only from the thread that called the handler.
  std::function<void(std::string_view)> console;
  // Never null while a transfer runs.
  TransferInterrupter* interrupter = nullptr;
  // The job's max_duration ends here: no call or retry lasts past it (the
  // runner interrupts the transfer then; calls carry it as a backstop).
  absl::Time deadline = absl::InfiniteFuture();
  // Called whenever bytes moved (any thread of the handler; must be cheap):
  // the runner's stall timeout (the job's `timeout`) counts from the last
  // call.
  std::function<void()> on_progress;
  // The controller accepts uploads checked by XXH3-128 alone
  // (Assign.transfer_xxh128); otherwise they carry the SHA-256.
  bool xxh128_uploads = false;
};

class FetchHandler {
 public:
  virtual ~FetchHandler() = default;
  // Fetches task `task_index` (0-based index in Assign.tasks) into
  // job_dir/task.destination. A non-OK status fails the task; its message is
  // printed to the console and becomes the task's failure.
  virtual absl::Status Fetch(const gantry::v1::FetchTask& task, int task_index,
                             const TransferContext& context) = 0;
};

// One local file to upload, and where it goes in the artifact tree.
struct ArtifactItem {
  // Absolute, symlinks resolved, inside the job's working directory.
  std::string local_path;
  // Cleaned (common/artifact_path.h).
  std::string artifact_path;
  // "build" or "test".
  std::string kind;
};

// What the controller stored.
struct UploadedArtifact {
  std::string path;
  int64_t size = 0;
  std::string sha256;
};

class ArtifactUploader {
 public:
  virtual ~ArtifactUploader() = default;
  // Uploads one file. The status message names the file.
  virtual absl::StatusOr<UploadedArtifact> Upload(
      const ArtifactItem& item, const TransferContext& context) = 0;
  // Uploads several files, in order; the first error stops it. By default
  // one Upload each; ArtifactClient sends many small files per call.
  virtual absl::StatusOr<std::vector<UploadedArtifact>> UploadAll(
      const std::vector<ArtifactItem>& items, const TransferContext& context) {
    std::vector<UploadedArtifact> out;
    for (const ArtifactItem& item : items) {
      if (context.interrupter != nullptr && context.interrupter->interrupted()) {
        return absl::CancelledError("artifact upload interrupted");
      }
      auto uploaded = Upload(item, context);
      if (!uploaded.ok()) return uploaded.status();
      out.push_back(std::move(*uploaded));
    }
    return out;
  }
};

}  // namespace gantry::agent
