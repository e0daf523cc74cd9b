// Reads environment_variables / secure_variables (on pipelines, stages, jobs
// and environments) and `environments:` entries.
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"
#include "common/names.h"

namespace gantry::config::internal {
namespace {

const KeySet kEnvironmentKeys = {
    {"environment_variables", "secure_variables", "agents", "pipelines", "deployers", "lock"}, {}};

}  // namespace

std::vector<Variable> ParseVariables(YamlReader& reader, const Fields& fields) {
  std::vector<Variable> out;
  // Both maps' entries stay alive so `seen` can point into them.
  std::vector<Field> entries[2];
  absl::flat_hash_map<absl::string_view, const Field*> seen;
  for (int k = 0; k < 2; ++k) {
    absl::string_view key = k == 0 ? "environment_variables" : "secure_variables";
    const Field* field = fields.Get(key);
    if (!field) continue;
    bool secure = k == 1;
    entries[k] = reader.Entries(*field, absl::StrCat("'", key, "'"), "variable",
                                /*ignore_case=*/false);
    out.reserve(out.size() + entries[k].size());
    for (const Field& entry : entries[k]) {
      if (!IsValidVariableName(entry.key)) {
        reader.Error(entry.key_location,
                     absl::StrCat("invalid variable name '", entry.key,
                                  "': use letters, digits and '_', not "
                                  "starting with a digit"));
        continue;
      }
      if (IsReservedVariableName(entry.key)) {
        reader.Error(entry.key_location,
                     absl::StrCat("variable '", entry.key,
                                  "': names starting with GANTRY_ are "
                                  "reserved for Gantry's own"));
        continue;
      }
      auto [it, fresh] = seen.emplace(entry.key, &entry);
      if (!fresh) {
        reader.Error(entry.key_location,
                     absl::StrCat("duplicate variable '", entry.key, "' (first at ",
                                  LocationText(it->second->key_location), ")"));
        continue;
      }
      Variable v;
      v.name = entry.key;
      v.secure = secure;
      if (entry.value.IsScalar()) {
        v.value = entry.value.Scalar();
      } else if (!entry.value.IsNull()) {
        reader.TypeError(entry, "a string",
                         absl::StrCat("variable '", entry.key, "'"));
        continue;
      }
      out.push_back(std::move(v));
    }
  }
  return out;
}

Environment ParseEnvironment(YamlReader& reader, const Field& entry) {
  Environment env;
  env.name = entry.key;
  env.location = entry.key_location;
  CheckName(reader, env.location, "environment", env.name);
  std::optional<Fields> fields = reader.Object(
      entry, absl::StrCat("environment '", env.name, "'"), kEnvironmentKeys);
  if (!fields) return env;
  env.variables = ParseVariables(reader, *fields);
  if (const Field* f = fields->Get("agents")) {
    env.agents = reader.StringList(*f);
  }
  if (const Field* f = fields->Get("deployers")) {
    env.deployers = ParseGrant(reader, *f, "'deployers'");
  }
  if (const Field* f = fields->Get("lock")) env.lock = reader.Bool(*f).value_or(false);
  if (const Field* f = fields->Get("pipelines")) {
    for (const Field& element : reader.List(*f, "'pipelines'")) {
      if (!element.value.IsScalar()) {
        reader.TypeError(element, "a pipeline name", "an entry of 'pipelines'");
        continue;
      }
      env.pipelines.push_back(element.value.Scalar());
      env.pipeline_locations.push_back(element.value_location);
    }
  }
  return env;
}

}  // namespace gantry::config::internal
