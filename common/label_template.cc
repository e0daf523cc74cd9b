#include "common/label_template.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gantry {

absl::StatusOr<std::vector<LabelPart>> ParseLabelTemplate(absl::string_view tmpl) {
  std::vector<LabelPart> parts;
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t start = tmpl.find("${", i);
    if (start == absl::string_view::npos) {
      parts.push_back({std::string(tmpl.substr(i)), "", 0});
      break;
    }
    if (start > i) parts.push_back({std::string(tmpl.substr(i, start - i)), "", 0});
    size_t end = tmpl.find('}', start);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", tmpl, "' has an unclosed '${'"));
    }
    absl::string_view ref = tmpl.substr(start + 2, end - start - 2);
    LabelPart part;
    size_t bracket = ref.find('[');
    if (bracket == absl::string_view::npos) {
      part.ref = std::string(ref);
    } else {
      absl::string_view rest = ref.substr(bracket);
      int n = 0;
      if (rest.size() < 4 || rest.substr(0, 2) != "[:" || rest.back() != ']' ||
          !absl::SimpleAtoi(rest.substr(2, rest.size() - 3), &n) || n <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad reference '${", ref, "}': write ${MATERIAL[:N]} with N > 0"));
      }
      part.ref = std::string(ref.substr(0, bracket));
      part.truncate = n;
    }
    parts.push_back(std::move(part));
    i = end + 1;
  }
  return parts;
}

}  // namespace gantry
