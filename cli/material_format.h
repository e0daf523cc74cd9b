// `pipeline show`: the commits behind each git material of a build cause.
#pragma once

#include <ostream>

#include "absl/time/time.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::cli {

// For each git material with commits: "commits of M:" and one line per
// commit (revision, time, author, subject), newest first.
void PrintMaterialCommits(const gantry::v1::BuildCause& cause, absl::TimeZone tz,
                          std::ostream& out);

}  // namespace gantry::cli
