#include "common/config/parameters.h"

#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"
#include "common/locator.h"

namespace gantry::config::internal {
namespace {

bool SubstituteNode(YamlReader& reader, const YamlNode& node, const ParameterSet& params,
                    const Limits& limits, SubstitutionBudget* budget) {
  if (++budget->nodes > limits.max_expanded_nodes) return false;
  if (node.IsScalar()) {
    // Reached again through an alias: already substituted once.
    if (node.IsOverridden()) return true;
    absl::string_view text = node.ScalarView();
    if (text.find('#') == absl::string_view::npos) return true;
    std::string error;
    std::optional<std::string> out = SubstituteParameters(text, params, &error);
    if (!out) {
      reader.Error(reader.Location(node), error);
      return true;
    }
    budget->bytes += out->size();
    if (budget->bytes > limits.max_expanded_bytes) return false;
    node.OverrideScalar(std::move(*out));
    return true;
  }
  if (node.IsSequence()) {
    for (const YamlNode& element : node) {
      if (!SubstituteNode(reader, element, params, limits, budget)) return false;
    }
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copied: `it->` is a proxy that dies with the full expression.
      YamlNode value = it->second;
      if (!SubstituteNode(reader, value, params, limits, budget)) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> SubstituteParameters(absl::string_view text, const ParameterSet& params,
                                                std::string* error) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '#') {
      out += c;
      ++i;
      continue;
    }
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (next == '#') {
      bool escapes_brace = i + 2 < text.size() && text[i + 2] == '{';
      // "##" is one '#' (GoCD); leniently only where it escapes a "#{".
      out += params.strict || escapes_brace ? "#" : "##";
      i += 2;
      if (escapes_brace) {
        out += '{';
        ++i;
      }
      continue;
    }
    if (next != '{') {
      if (params.strict) {
        *error =
            "'#' must start a parameter ('#{NAME}') or be doubled ('##' for a '#'), as in GoCD, "
            "in a pipeline with parameters or a template";
        return std::nullopt;
      }
      out += c;
      ++i;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == absl::string_view::npos) {
      *error = absl::StrCat("parameter reference '", text.substr(i, 40), "' has no closing '}'");
      return std::nullopt;
    }
    std::string name(text.substr(i + 2, close - i - 2));
    if (name.empty()) {
      *error = "empty parameter reference '#{}'";
      return std::nullopt;
    }
    if (!IsValidName(name)) {
      *error = absl::StrCat("invalid parameter name '", name.substr(0, 40),
                            "' in '#{…}': use letters, digits, '-', '_' and '.'");
      return std::nullopt;
    }
    auto it = params.values.find(name);
    if (it == params.values.end()) {
      *error = absl::StrCat("parameter '", name,
                            "' is not defined: a pipeline that uses it, directly or through its "
                            "template, must define it under 'parameters'");
      return std::nullopt;
    }
    out += it->second;
    i = close + 1;
  }
  return out;
}

ParameterSet ReadParameters(YamlReader& reader, const Field& field) {
  ParameterSet params;
  for (const Field& entry :
       reader.Entries(field, "'parameters'", "parameter", /*ignore_case=*/false)) {
    if (!CheckName(reader, entry.key_location, "parameter", entry.key)) continue;
    if (!entry.value.IsNull() && !entry.value.IsScalar()) {
      reader.TypeError(entry, "a string", absl::StrCat("parameter '", entry.key, "'"));
      continue;
    }
    params.values[entry.key] = entry.value.IsScalar() ? entry.value.Scalar() : "";
  }
  return params;
}

bool SubstituteUnder(YamlReader& reader, const YamlNode& node, const ParameterSet& params,
                     const Limits& limits, SubstitutionBudget* budget) {
  return SubstituteNode(reader, node, params, limits, budget);
}

}  // namespace gantry::config::internal
