// Text rendering of pipeline runs: `pipeline show`, the TRIGGERED-BY column
// and the progress lines of `pipeline trigger --wait`.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::cli {

// "admin" for a manual run, "upstream/5/test" for an upstream one, else the
// cause's kind; "-" when unknown.
std::string TriggeredBy(const gantry::v1::BuildCause& cause);

// "abc123" for git, "up/5/test" (or "up/5/test/2" for a re-run stage) for
// a pipeline material.
std::string MaterialRevisionText(const gantry::v1::MaterialRevision& m);

// The full `pipeline show` text: a header, then each stage and its jobs.
void PrintPipelineRun(const gantry::v1::PipelineRun& run, absl::TimeZone tz,
                      absl::Time now, std::ostream& out);

// The first stage awaiting approval, or "".
std::string WaitingStage(const gantry::v1::PipelineRun& run);

// Remembers the last seen state of each stage and job of one run and says
// what changed: one line per change, each starting with the stage's or job's
// locator (with the stage attempt only when it is a re-run), e.g.
//   "build/12/compile: building"
//   "build/12/compile/unit: running on agent-3"
//   "build/12/compile/2/unit: failed (exit status 2)"
class RunProgress {
 public:
  std::vector<std::string> Update(const gantry::v1::PipelineRun& run);

 private:
  std::map<std::string, std::string> last_;
};

}  // namespace gantry::cli
