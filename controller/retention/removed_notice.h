// What an operator or a fetch is told about files retention removed.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "controller/job_lookup.h"
#include "controller/store/tx.h"

namespace gantry {

// OK while the run's files are kept; once retention picked the run,
// NOT_FOUND "<what> of P/N/S/SC/J: removed by retention at TIME" (UTC,
// RFC 3339), so a missing file is never a mystery.
absl::Status CheckFilesKept(store::Tx& tx, const JobLookup& job, absl::string_view what);

}  // namespace gantry
