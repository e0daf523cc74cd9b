// Finds a job attempt by its locator parts, with the messages operators see
// when something is missing.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "controller/store/records.h"
#include "controller/store/tx.h"

namespace gantry {

struct JobLookup {
  store::PipelineRunRecord run;
  store::StageRunRecord stage;
  store::JobRunRecord job;
  // "P/N/S/SC/J".
  std::string Locator() const;
};

// The newest attempt of `job` in attempt `stage_counter` (0 = the newest) of
// stage `stage` of run `pipeline`/`counter`. NOT_FOUND names what is missing.
absl::StatusOr<JobLookup> FindJob(store::Tx& tx, const std::string& pipeline,
                                  int64_t counter, const std::string& stage,
                                  int32_t stage_counter, const std::string& job);

}  // namespace gantry
