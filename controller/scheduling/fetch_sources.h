// Fills in each fetch task of an Assign with the exact attempt it will read
// (for the agent's messages; the download resolves it again, so a failure
// here surfaces there). Reads the database: run inside the assigning
// transaction, after its writes.
#pragma once

#include "controller/scheduling/assignment_builder.h"
#include "controller/store/tx.h"

namespace gantry {

void FillFetchSources(store::Tx& tx, const AssignmentInput& in, v1::Assign* assign);

}  // namespace gantry
