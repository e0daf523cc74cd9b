#include "common/locator.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry {
namespace {

const char* Expected(LocatorKind kind) {
  switch (kind) {
    case LocatorKind::kPipelineRun:
      return "PIPELINE/COUNTER";
    case LocatorKind::kStage:
      return "PIPELINE/COUNTER/STAGE[/ATTEMPT]";
    case LocatorKind::kJob:
      return "PIPELINE/COUNTER/STAGE[/ATTEMPT]/JOB";
  }
  return "";
}

bool ParsePositive(absl::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(s, out) && *out > 0;
}

}  // namespace

std::string Locator::ToString() const {
  std::string out = pipeline;
  if (counter > 0) absl::StrAppend(&out, "/", counter);
  if (!stage.empty()) absl::StrAppend(&out, "/", stage);
  if (stage_counter > 0) absl::StrAppend(&out, "/", stage_counter);
  if (!job.empty()) absl::StrAppend(&out, "/", job);
  return out;
}

absl::StatusOr<Locator> ParseLocator(std::string_view text, LocatorKind kind) {
  const std::string whole(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad locator '", whole, "': ", why, " (expected ", Expected(kind), ")"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(whole, '/');
  size_t min_parts = 2, max_parts = 2;
  if (kind == LocatorKind::kStage) min_parts = 3, max_parts = 4;
  if (kind == LocatorKind::kJob) min_parts = 4, max_parts = 5;
  if (parts.size() < min_parts) return bad("too few parts");
  if (parts.size() > max_parts) return bad("too many parts");
  for (absl::string_view p : parts) {
    if (p.empty()) return bad("empty part");
  }

  Locator loc;
  if (!IsValidName(std::string_view(parts[0].data(), parts[0].size()))) return bad("invalid pipeline name");
  loc.pipeline = std::string(parts[0]);
  if (!ParsePositive(parts[1], &loc.counter)) {
    return bad("counter must be a positive number");
  }
  if (kind == LocatorKind::kPipelineRun) return loc;

  if (!IsValidName(std::string_view(parts[2].data(), parts[2].size()))) return bad("invalid stage name");
  loc.stage = std::string(parts[2]);
  size_t next = 3;
  bool has_attempt = (kind == LocatorKind::kStage && parts.size() == 4) ||
                     (kind == LocatorKind::kJob && parts.size() == 5);
  if (has_attempt) {
    int64_t attempt = 0;
    if (!ParsePositive(parts[3], &attempt) || attempt > 1000000) {
      return bad("stage attempt must be a positive number");
    }
    loc.stage_counter = static_cast<int32_t>(attempt);
    next = 4;
  }
  if (kind == LocatorKind::kStage) return loc;

  if (!IsValidName(std::string_view(parts[next].data(), parts[next].size()))) return bad("invalid job name");
  loc.job = std::string(parts[next]);
  return loc;
}

}  // namespace gantry
