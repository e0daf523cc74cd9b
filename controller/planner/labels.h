// Run labels: GoCD's label_template with "${COUNT}", "${material}" and
// "${material[:N]}". The one expander: the planner labels runs with it and
// the config validator checks templates against the same references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/store/records.h"

namespace gantry {

std::string ExpandLabel(const std::string& label_template, int64_t counter,
                        const std::vector<store::MaterialRevisionRecord>& materials);

}  // namespace gantry
