// Rows to records, shared by the store's readers. The column order is the
// one RUN_COLUMNS, STAGE_COLUMNS and JOB_COLUMNS in statements.cc select.
#pragma once

#include <pqxx/pqxx>

#include "controller/store/records.h"

namespace gantry::store {

PipelineRunRecord RunFromRow(const pqxx::row& r);
StageRunRecord StageFromRow(const pqxx::row& r);
JobRunRecord JobFromRow(const pqxx::row& r);
// A run_materials row's material columns, starting at column `first`.
MaterialRevisionRecord MaterialFromRow(const pqxx::row& r, int first);
AgentConfigState AgentStateFromField(const pqxx::field& f);
// A pipelines row, in the order of PIPELINE_COLUMNS in statements.cc.
PipelineRecord PipelineFromRow(const pqxx::row& r);

}  // namespace gantry::store
