#include "common/names.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gantry {

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (name[0] == '.' || name[0] == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (name[0] == '.' || name[0] == '-' || name[0] == '@') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool IsValidVariableName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsReservedVariableName(std::string_view name) {
  return absl::StartsWith(absl::string_view(name.data(), name.size()), "GANTRY_");
}

absl::Status CheckTriggerVariable(const std::string& name) {
  if (!IsValidVariableName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad variable name '", name.substr(0, kMaxNameLength),
                     "': use letters, digits and '_', not starting with a digit"));
  }
  if (IsReservedVariableName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "variable '", name, "': names starting with GANTRY_ are reserved for Gantry's own"));
  }
  return absl::OkStatus();
}

}  // namespace gantry
