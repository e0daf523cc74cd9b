// Bytes of artifact content through the controller, counted where they move
// (controller/rpc/artifact_upload_stream.cc, artifact_download_stream.cc) and read by /metrics
// (gantry_artifact_bytes_total). Process-wide, like the gRPC call counts:
// the streams and the metrics registry have no owner in common.
#pragma once

#include <atomic>
#include <cstdint>

namespace gantry {

struct ArtifactTraffic {
  std::atomic<uint64_t> bytes_in{0};   // uploads, from agents
  std::atomic<uint64_t> bytes_out{0};  // downloads, to agents' fetches and the CLI
};

inline ArtifactTraffic& GlobalArtifactTraffic() {
  static ArtifactTraffic traffic;
  return traffic;
}

}  // namespace gantry
