#include "controller/planner/labels.h"

#include "absl/strings/str_cat.h"
#include "common/label_template.h"

namespace gantry {

std::string ExpandLabel(const std::string& label_template, int64_t counter,
                        const std::vector<store::MaterialRevisionRecord>& materials) {
  // The validator refused bad templates; an old revision's is shown as is.
  auto parts = ParseLabelTemplate(label_template.empty() ? "${COUNT}" : label_template);
  if (!parts.ok()) return label_template;
  std::string out;
  for (const LabelPart& part : *parts) {
    if (part.ref.empty()) {
      out += part.literal;
      continue;
    }
    std::string value;
    if (part.ref == "COUNT") {
      value = absl::StrCat(counter);
    } else {
      for (const auto& m : materials) {
        if (m.material != part.ref) continue;
        value = m.type == "pipeline" ? absl::StrCat(m.upstream_pipeline, "-", m.upstream_counter)
                                     : m.revision;
      }
    }
    out += part.truncate > 0 ? value.substr(0, part.truncate) : value;
  }
  return out;
}

}  // namespace gantry
