// Resolves a fetch task to the exact job attempt whose artifacts it reads,
// as GoCD does: through the fetching run's build cause, hop by hop along the
// ancestor path, never "the latest run". A fetch within the pipeline reads
// the same run (same counter).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/job_lookup.h"
#include "controller/store/records.h"
#include "controller/store/tx.h"

namespace gantry {

absl::StatusOr<JobLookup> ResolveFetch(store::Tx& tx, const store::PipelineRunRecord& run,
                                       const config::FetchTask& fetch);

// The stored files a fetch of `source` delivers, and the name each gets below
// the fetch destination: a file keeps its base name, a directory its own
// name and everything under it. NOT_FOUND when nothing matches.
struct FetchedFile {
  store::ArtifactRecord artifact;
  std::string name;  // relative to the destination
};
absl::StatusOr<std::vector<FetchedFile>> FilesToFetch(store::Tx& tx, const JobLookup& from,
                                                      const std::string& source,
                                                      bool is_file);

}  // namespace gantry
