// FetchHandler and ArtifactUploader over AgentService's UploadArtifact and
// DownloadArtifact, with the sync gRPC API: one 64 KiB chunk in flight at a
// time (ClientWriter/ClientReader apply HTTP/2 flow control), so memory stays
// flat whatever the file size. Every call carries AgentAuth (agent id, token,
// attempt id); the controller accepts it only for a running attempt held by
// this agent, which is why uploads happen before JobCompleted.
//
// Upload, per file: header {auth, path, size, kind, executable}, data
// chunks, trailer {sha256}; the controller's answer must echo the same size
// and digest. Fetch: the controller resolves the task by (attempt, task
// index) and streams ArtifactFile headers each followed by their data;
// FetchWriter checks and places them.
#pragma once

#include <memory>
#include <string>

#include "agent/artifact_handlers.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::agent {

// Bytes per data message.
inline constexpr size_t kArtifactChunkBytes = 64 * 1024;

class ArtifactClient : public FetchHandler, public ArtifactUploader {
 public:
  ArtifactClient(std::shared_ptr<gantry::v1::AgentService::StubInterface> stub,
                 std::string agent_id, std::string token);

  absl::Status Fetch(const gantry::v1::FetchTask& task, int task_index,
                     const TransferContext& context) override;
  absl::StatusOr<UploadedArtifact> Upload(
      const ArtifactItem& item, const TransferContext& context) override;

 private:
  void FillAuth(gantry::v1::AgentAuth* auth, int64_t attempt_id) const;

  std::shared_ptr<gantry::v1::AgentService::StubInterface> stub_;
  const std::string agent_id_;
  const std::string token_;
};

// "pipeline/counter/stage/stage_counter/job" of a resolved fetch task.
std::string ResolvedLocator(const gantry::v1::FetchTask& task);

}  // namespace gantry::agent
