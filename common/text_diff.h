// A line diff for showing what a config revision changed.
#pragma once

#include <string>

namespace gantry {

// A unified-style diff (lines prefixed "-", "+", " ", with "@@" hunks and
// 2 lines of context) between `before` and `after`, headed by `name`.
// Returns "" when they are equal.
std::string UnifiedDiff(const std::string& name, const std::string& before,
                        const std::string& after);

}  // namespace gantry
