// Small readers shared by the section parsers: names, paths, choices and
// one-key maps.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/parse_internal.h"
#include "common/locator.h"

namespace gantry::config::internal {

bool CheckName(YamlReader& reader, const SourceLocation& at,
               absl::string_view kind, const std::string& name) {
  if (IsValidName(name)) return true;
  if (name.size() > kMaxNameLength) {
    reader.Error(at, absl::StrCat(kind, " name '", name.substr(0, 40), "...' is ", name.size(),
                                  " characters long; the limit on names is ", kMaxNameLength));
    return false;
  }
  reader.Error(at, absl::StrCat("invalid ", kind, " name '", name,
                                "': use letters, digits, '-', '_' and '.', "
                                "not starting with '-' or '.', at most 255 "
                                "characters"));
  return false;
}

bool IsInsideWorkingDir(const std::string& path) {
  if (!path.empty() && path[0] == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return false;
  }
  return true;
}

std::optional<std::string> ReadRelativePath(YamlReader& reader,
                                            const Field& field) {
  std::optional<std::string> path = reader.String(field);
  if (path && !IsInsideWorkingDir(*path)) {
    reader.Error(
        field.value_location,
        absl::StrCat("'", field.key, "' must be a relative path ",
                     "inside the working directory, got '", *path, "'"));
    return std::nullopt;
  }
  return path;
}

int ReadChoice(YamlReader& reader, const Field& field,
               const std::vector<absl::string_view>& allowed) {
  std::optional<std::string> value = reader.String(field);
  if (!value) {
    if (field.value.IsNull()) {
      reader.Error(field.value_location,
                   absl::StrCat("'", field.key, "' is empty: expected one of ",
                                absl::StrJoin(allowed, ", ")));
    }
    return -1;
  }
  auto it = std::find(allowed.begin(), allowed.end(), *value);
  if (it == allowed.end()) {
    reader.Error(
        field.value_location,
        absl::StrCat("invalid ", field.key, " '", *value, "': expected one of ",
                     absl::StrJoin(allowed, ", ")));
    return -1;
  }
  return static_cast<int>(it - allowed.begin());
}

std::optional<Field> ReadOneKeyMap(YamlReader& reader, const Field& element,
                                   absl::string_view what,
                                   absl::string_view meaning) {
  if (!element.value.IsMap()) {
    reader.TypeError(element, "a map", what);
    return std::nullopt;
  }
  std::vector<std::string> keys;
  YamlNode key_node;
  YamlNode value_node;
  for (auto it = element.value.begin(); it != element.value.end(); ++it) {
    keys.push_back(it->first.IsScalar()
                       ? absl::StrCat("'", it->first.Scalar(), "'")
                       : Describe(it->first));
    key_node = it->first;
    value_node = it->second;
  }
  if (keys.size() != 1) {
    reader.Error(
        element.value_location,
        absl::StrCat("expected one key (", meaning, ") in ", what, ", got ",
                     keys.empty() ? "none" : absl::StrJoin(keys, " and ")));
    return std::nullopt;
  }
  SourceLocation key_location = reader.Location(key_node);
  if (!key_node.IsScalar()) {
    reader.Error(key_location, absl::StrCat("expected ", meaning, " in ", what,
                                            ", got ", Describe(key_node)));
    return std::nullopt;
  }
  Field f = reader.Element(value_node, key_location);
  f.key = key_node.Scalar();
  return f;
}

}  // namespace gantry::config::internal
