// Reads the top-level `templates:` section: each entry is a template name
// to `{stages: [...]}`, the stages a pipeline with `template: NAME` gets.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {

void TemplateSet::Read(YamlReader& reader, const Field& field) {
  static const KeySet kTemplateKeys = {{"stages"}, {}};
  for (const Field& entry :
       reader.Entries(field, "'templates'", "template", /*ignore_case=*/true)) {
    if (!CheckName(reader, entry.key_location, "template", entry.key)) continue;
    std::optional<Fields> fields =
        reader.Object(entry, absl::StrCat("template '", entry.key, "'"), kTemplateKeys);
    if (!fields) continue;
    const Field* stages = fields->Get("stages");
    if (stages == nullptr) {
      reader.Error(entry.key_location, absl::StrCat("template '", entry.key, "' has no stages"));
      continue;
    }
    // Kept all the same, so its users are not told it is undefined.
    if (stages->value.IsNull() || (stages->value.IsSequence() && stages->value.size() == 0)) {
      reader.Error(entry.key_location, absl::StrCat("template '", entry.key, "' has no stages"));
    }
    std::string key = absl::AsciiStrToLower(entry.key);
    auto it = by_lower_name_.find(key);
    if (it != by_lower_name_.end()) {
      // Across files: within one file, Entries has reported it.
      reader.Error(entry.key_location,
                   absl::StrCat("duplicate template '", entry.key, "' (first at ",
                                LocationText(it->second.location), ")"));
      continue;
    }
    by_lower_name_.emplace(key, Template{entry.key, entry.key_location, *stages, &reader});
  }
}

const Template* TemplateSet::Find(const std::string& name) const {
  auto it = by_lower_name_.find(absl::AsciiStrToLower(name));
  return it == by_lower_name_.end() ? nullptr : &it->second;
}

std::vector<absl::string_view> TemplateSet::Names() const {
  std::vector<absl::string_view> out;
  for (const auto& [key, t] : by_lower_name_) out.push_back(t.name);
  return out;
}

}  // namespace gantry::config::internal
