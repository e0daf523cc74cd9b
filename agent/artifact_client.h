// FetchHandler and ArtifactUploader over AgentService's UploadArtifact and
// DownloadArtifact, with the sync gRPC API. Every call carries AgentAuth
// (agent id, token, attempt id); the controller accepts it only for a
// running attempt held by this agent, which is why uploads happen before
// JobCompleted.
//
// Upload: files go in streams of up to kUploadBatchFiles files or about
// kUploadBatchBytes (a bigger file alone), each file a header {auth, path,
// size, kind, executable}, 128 KiB data messages and a trailer {xxh128} (the
// SHA-256 instead for a controller whose Assign did not say
// transfer_xxh128); the controller's answer lists each stored file, whose
// size and checksum must be what was sent. A reader thread reads and
// checksums the next messages while the calling thread sends, through a
// queue of a few MiB, so memory stays flat whatever the file size.
//
// Fetch: the controller resolves the task by (attempt, task index) and
// streams ArtifactFile headers each followed by their data; the calling
// thread receives while a second one has FetchWriter (artifact_fetch_writer.h)
// check and place them.
//
// Both retry a call that fails because the controller is out of reach
// (artifact_retry.h), on the stub the StubSource gives at that moment (the
// session's current channel). An upload stream that failed is sent again
// whole; the streams acknowledged before it are not. A fetch starts over.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/artifact_handlers.h"
#include "agent/artifact_retry.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::agent {

// Bytes per upload data message. 1 MiB messages were slower on the bench
// (164-203 against 258-306 MiB/s for 1 GiB, noisy), each costing the
// controller a fresh buffer.
inline constexpr size_t kArtifactChunkBytes = 128 << 10;
// How many files, and about how many bytes, one upload stream carries.
inline constexpr size_t kUploadBatchFiles = 256;
inline constexpr int64_t kUploadBatchBytes = 16 << 20;

using StubSource = std::function<std::shared_ptr<gantry::v1::AgentService::StubInterface>()>;

class ArtifactClient : public FetchHandler, public ArtifactUploader {
 public:
  ArtifactClient(std::shared_ptr<gantry::v1::AgentService::StubInterface> stub,
                 std::string agent_id, std::string token);
  // `stubs` is asked for a stub before every call (and every retry).
  ArtifactClient(StubSource stubs, std::string agent_id, std::string token,
                 TransferRetryOptions retry = {});

  absl::Status Fetch(const gantry::v1::FetchTask& task, int task_index,
                     const TransferContext& context) override;
  absl::StatusOr<UploadedArtifact> Upload(const ArtifactItem& item,
                                          const TransferContext& context) override;
  absl::StatusOr<std::vector<UploadedArtifact>> UploadAll(const std::vector<ArtifactItem>& items,
                                                          const TransferContext& context) override;

  // Upload calls made so far (tests, the bench).
  int64_t upload_calls() const { return upload_calls_; }

 private:
  void FillAuth(gantry::v1::AgentAuth* auth, int64_t attempt_id) const;
  // One UploadArtifact call for `items`.
  absl::StatusOr<std::vector<UploadedArtifact>> SendBatch(const std::vector<ArtifactItem>& items,
                                                          const TransferContext& context);

  StubSource stubs_;
  const std::string agent_id_;
  const std::string token_;
  const TransferRetryOptions retry_;
  int64_t upload_calls_ = 0;
};

// "pipeline/counter/stage/stage_counter/job" of a resolved fetch task.
std::string ResolvedLocator(const gantry::v1::FetchTask& task);

}  // namespace gantry::agent
