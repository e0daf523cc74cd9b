// Process-wide spdlog setup: one line per event on stderr.
#pragma once

#include <string>

namespace gantry {

// level: trace, debug, info, warn, error. `name` prefixes each line.
void SetupLogging(const std::string& name, const std::string& level);

}  // namespace gantry
