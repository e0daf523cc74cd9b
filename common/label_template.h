// GoCD label templates: literal text with "${COUNT}", "${material}" and
// "${material[:N]}" references. One tokenizer, shared by the config
// validator (which checks the references) and the controller (which expands
// them), so the two cannot disagree on what a template means.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gantry {

struct LabelPart {
  std::string literal;  // set for text outside ${…}
  std::string ref;      // set for a reference: "COUNT" or a material name
  int truncate = 0;     // ${ref[:N]}: keep the first N characters (0: all)
};

// INVALID_ARGUMENT for an unclosed "${" or a malformed "[:N]", with a
// message that fits after "label_template: ".
absl::StatusOr<std::vector<LabelPart>> ParseLabelTemplate(absl::string_view tmpl);

}  // namespace gantry
