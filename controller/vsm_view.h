// `gantry pipeline vsm P/N`: the value stream around one run. Upstream, the
// runs its pipeline materials name (and theirs, to the first pipeline with
// only git materials); downstream, the runs that took it as a material (and
// theirs, through every level). Reads run_materials both ways, nothing else.
#pragma once

#include "absl/status/status.h"
#include "controller/store/records.h"
#include "controller/store/tx.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// At most this many runs in one answer: a build feeding every run of a busy
// downstream for months must not become an unbounded reply.
inline constexpr int kMaxVsmRuns = 2000;

void BuildVsm(store::Tx& tx, const store::PipelineRunRecord& run, v1::PipelineVsm* out);

}  // namespace gantry
