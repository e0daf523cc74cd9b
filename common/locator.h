// Locators name runs on the command line: PIPELINE[/COUNTER[/STAGE[/ATTEMPT][/JOB]]].
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/names.h"

namespace gantry {

struct Locator {
  std::string pipeline;
  int64_t counter = 0;        // 0: not given
  std::string stage;          // "": not given
  int32_t stage_counter = 0;  // 0: not given (the newest attempt)
  std::string job;            // "": not given

  std::string ToString() const;
};

// What a command needs the locator to name.
enum class LocatorKind {
  kPipelineRun,  // P/N
  kStage,        // P/N/STAGE[/ATTEMPT]
  kJob,          // P/N/STAGE[/ATTEMPT]/JOB
};

// Parses `text` as the given kind. Errors are one line and say what shape
// was expected, e.g. "bad locator 'a/b': expected PIPELINE/COUNTER/STAGE".
absl::StatusOr<Locator> ParseLocator(std::string_view text, LocatorKind kind);


}  // namespace gantry
