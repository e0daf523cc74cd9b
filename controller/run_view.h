// Read models for the operator API: a pipeline run as the CLI shows it,
// with every configured stage (run or not) and every job attempt.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "common/config/model.h"
#include "controller/store/records.h"
#include "controller/store/tx.h"
#include "controller/store/write_batch.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// agent id -> name, for showing who ran what.
using AgentNames = std::map<std::string, std::string>;

// Fills `out` from the run's rows; `config` is the run's own config revision
// (nullptr: show only stages that ran). Secure variables come out masked.
void BuildRunView(store::Tx& tx, const store::PipelineRunRecord& run,
                  const config::Config* config, const AgentNames& agents,
                  v1::PipelineRun* out);
// The same from rows already in memory.
void BuildRunView(const store::RunRows& rows, const config::Config* config,
                  const AgentNames& agents, v1::PipelineRun* out);

void SetTimestamp(int64_t unix_ms, google::protobuf::Timestamp* ts);

}  // namespace gantry
