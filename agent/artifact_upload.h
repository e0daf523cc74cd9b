// Uploads a job's artifacts (Assign.artifacts) once its tasks have run.
//
// - run_if per spec: "passed" (default) uploads when the job passed,
//   "failed" when it failed, "any" either way; an unknown value is treated
//   as "passed" with a console note. A cancelled job uploads nothing (the
//   caller does not call this).
// - Specs in order, files in artifact-path order (artifact_sources.h); the
//   first error stops the upload and is returned, its message naming the
//   source or file. Console: one "[gantry] uploaded ..." line per spec.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "agent/artifact_handlers.h"
#include "gantry/v1/agent.pb.h"
#include "google/protobuf/repeated_field.h"

namespace gantry::agent {

// `job_passed`: the job's result so far. `say` prints one "[gantry]" line.
// CANCELLED when the interrupter fired.
absl::Status UploadJobArtifacts(
    const google::protobuf::RepeatedPtrField<gantry::v1::ArtifactSpec>& specs,
    bool job_passed, ArtifactUploader& uploader, const TransferContext& context,
    const std::function<void(const std::string&)>& say);

}  // namespace gantry::agent
