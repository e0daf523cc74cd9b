// GoCD's pipeline parameters: `parameters: {NAME: value}` on a pipeline and
// `#{NAME}` in its values (its own and its template's), substituted by
// GoCD's rules before the values are read. Keys (pipeline, stage, job and
// material names) are never substituted.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/config/limits.h"
#include "common/config/yaml_reader.h"

namespace gantry::config::internal {

struct ParameterSet {
  std::map<std::string, std::string> values;
  // GoCD's rules in full: a '#' must start "#{NAME}" or be doubled ("##" is
  // a literal '#'). Without parameters and template, a pipeline keeps a
  // lone '#' (or "##") as written, so shell comments in commands still
  // work; "#{NAME}" there is an undefined parameter, "##{" a literal "#{".
  bool strict = false;
};

// What substitution may add to one configuration: every pipeline reads its
// template again, and a parameter's value may be used many times.
struct SubstitutionBudget {
  size_t nodes = 0;  // nodes walked for templates
  size_t bytes = 0;  // bytes of substituted text
};

// `text` with "#{NAME}" replaced; nullopt and `*error` set when it breaks
// the rules ("parameter 'x' is not defined", …).
std::optional<std::string> SubstituteParameters(absl::string_view text, const ParameterSet& params,
                                                std::string* error);

// Reads `parameters:` of a pipeline (names as other names; values scalars).
ParameterSet ReadParameters(YamlReader& reader, const Field& field);

// Overrides every scalar value under `node` that holds a '#' with its
// substitution (YamlNode::OverrideScalar), reporting errors through
// `reader` at the scalar. Counts nodes walked and bytes added into `budget`;
// returns false, reporting nothing, once it passes `limits`.
bool SubstituteUnder(YamlReader& reader, const YamlNode& node, const ParameterSet& params,
                     const Limits& limits, SubstitutionBudget* budget);

}  // namespace gantry::config::internal
