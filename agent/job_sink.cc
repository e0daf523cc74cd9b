#include "agent/job_sink.h"

namespace gantry::agent {

std::string_view TaskOutcomeName(TaskOutcome outcome) {
  switch (outcome) {
    case TaskOutcome::kPassed:
      return "passed";
    case TaskOutcome::kFailed:
      return "failed";
    case TaskOutcome::kSkipped:
      return "skipped";
    case TaskOutcome::kCancelled:
      return "cancelled";
  }
  return "failed";
}

std::string_view JobResultName(JobResult result) {
  switch (result) {
    case JobResult::kPassed:
      return "passed";
    case JobResult::kFailed:
      return "failed";
    case JobResult::kCancelled:
      return "cancelled";
  }
  return "failed";
}

}  // namespace gantry::agent
