#include "controller/planner/upstream_pick.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace gantry {

absl::Status PickUpstreamRun(ColdStore* cold, const config::Material& material,
                             const std::string& value, store::MaterialRevisionRecord* rec) {
  // `build/12` is accepted as well as `12` because that is how runs are
  // named everywhere else (history, vsm); the prefix must be the upstream.
  absl::string_view counter_text = value;
  absl::ConsumePrefix(&counter_text, absl::StrCat(material.pipeline, "/"));
  int64_t counter = 0;
  if (!absl::SimpleAtoi(counter_text, &counter) || counter <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--revision ", material.name, "=", value, ": expected a run counter of ",
                     material.pipeline, " (N or ", material.pipeline, "/N)"));
  }
  ASSIGN_OR_RETURN(auto rows, cold->LoadRun(material.pipeline, counter));
  if (!rows) {
    return absl::NotFoundError(absl::StrCat("--revision ", material.name, "=", value, ": ",
                                            material.pipeline, "/", counter, " does not exist"));
  }
  const store::StageRunRecord* passed = nullptr;
  for (const auto& s : rows->stages) {  // oldest first: the last passed attempt wins
    if (s.name == material.stage && s.state == StageState::kPassed) passed = &s;
  }
  if (passed == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("--revision ", material.name, "=", value,
                                                      ": stage ", material.pipeline, "/", counter,
                                                      "/", material.stage, " has not passed"));
  }
  rec->upstream_counter = counter;
  rec->upstream_stage_counter = passed->counter;
  return absl::OkStatus();
}

}  // namespace gantry
