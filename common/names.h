// What names and variables may be, in one place: the config parser, the
// CLI and the controller's edge all check with these, so a name one of them
// accepts is never refused by another.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace gantry {

// Names of pipelines, stages, jobs and agents: letters, digits, '-', '_'
// and '.', starting with a letter, digit or '_', at most 255 characters (as
// GoCD).
inline constexpr size_t kMaxNameLength = 255;
bool IsValidName(std::string_view name);

// User and role names: as IsValidName, and '@' too, so an e-mail address
// can be a user name.
bool IsValidUserName(std::string_view name);

// Environment variable names: letters, digits and '_', not starting with a
// digit.
bool IsValidVariableName(std::string_view name);
// GANTRY_* names are Gantry's own (pipeline name, counter, trigger user...).
bool IsReservedVariableName(std::string_view name);

// A variable given at trigger time (`gantry trigger --var NAME=VALUE`):
// INVALID_ARGUMENT, with one line saying why, for a bad or reserved name.
absl::Status CheckTriggerVariable(const std::string& name);

}  // namespace gantry
