// Locators on arbitrary text: ParseLocator never crashes; what it accepts
// has valid names and positive numbers, and prints back to text that parses
// to the same locator.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/locator.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  gantry::IsValidName(text);
  for (gantry::LocatorKind kind : {gantry::LocatorKind::kPipelineRun, gantry::LocatorKind::kStage,
                                   gantry::LocatorKind::kJob}) {
    absl::StatusOr<gantry::Locator> loc = gantry::ParseLocator(text, kind);
    if (!loc.ok()) {
      FUZZ_CHECK(loc.status().code() == absl::StatusCode::kInvalidArgument, "code %d",
                 static_cast<int>(loc.status().code()));
      FUZZ_CHECK(!loc.status().message().empty(), "empty message");
      continue;
    }
    FUZZ_CHECK(gantry::IsValidName(loc->pipeline), "pipeline '%s'", loc->pipeline.c_str());
    FUZZ_CHECK(loc->counter > 0, "counter %lld", static_cast<long long>(loc->counter));
    FUZZ_CHECK(loc->stage_counter >= 0, "stage counter %d", loc->stage_counter);
    if (kind != gantry::LocatorKind::kPipelineRun) {
      FUZZ_CHECK(gantry::IsValidName(loc->stage), "stage '%s'", loc->stage.c_str());
    }
    if (kind == gantry::LocatorKind::kJob) {
      FUZZ_CHECK(gantry::IsValidName(loc->job), "job '%s'", loc->job.c_str());
    }
    std::string printed = loc->ToString();
    absl::StatusOr<gantry::Locator> back = gantry::ParseLocator(printed, kind);
    FUZZ_CHECK(back.ok(), "'%s' printed as '%s', which does not parse: %s", text.c_str(),
               printed.c_str(), std::string(back.status().message()).c_str());
    FUZZ_CHECK(back->pipeline == loc->pipeline && back->counter == loc->counter &&
                   back->stage == loc->stage && back->stage_counter == loc->stage_counter &&
                   back->job == loc->job,
               "'%s' -> '%s' -> a different locator", text.c_str(), printed.c_str());
  }
  return 0;
}
