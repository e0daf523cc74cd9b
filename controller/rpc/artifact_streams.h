// gRPC reactors for artifact bytes. Each keeps a bounded amount in flight
// and does its file and SQL work on the ArtifactService's pool, so neither a
// gRPC thread blocks nor memory grows with the file.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

#include "controller/artifacts/artifact_service.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"
#include "gantry/v1/types.pb.h"

namespace gantry::rpc {

// Whether the connection's holder may act as `agent_id` (its client
// certificate, agent_certificates.h); null: the token alone decides.
using AgentCheck = std::function<absl::Status(const std::string& agent_id)>;

// AgentService.UploadArtifact: files, each a header, data chunks, trailer.
grpc::ServerReadReactor<v1::UploadArtifactRequest>* NewUploadReactor(
    ArtifactService* service, v1::UploadArtifactResponse* response, AgentCheck check = nullptr);

// AgentService.DownloadArtifact: the files of a fetch task.
grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* NewDownloadReactor(
    ArtifactService* service, const v1::DownloadArtifactRequest& request,
    AgentCheck check = nullptr);

// OperatorService.GetArtifact: stored files under a path.
grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* NewGetArtifactReactor(
    ArtifactService* service, const v1::ArtifactRequest& request);

}  // namespace gantry::rpc
