// Reads one pipeline: its own keys, its label template and its stages, and
// checks the rules local to it (unique stage names, material layout).
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/label_template.h"
#include "common/config/parse_internal.h"

namespace gantry::config::internal {
namespace {

const KeySet kPipelineKeys = {
    {"group", "label_template", "lock_behavior", "locking",
     "environment_variables", "secure_variables", "materials", "stages",
     "paused", "triggerers"},
    {"tracking_tool", "mingle", "timer", "template", "parameters",
     "display_order"}};

// Checks ${…} references of a label template: ${COUNT}, ${material} and
// ${material[:N]} (GoCD's forms without parameters and env), with the same
// tokenizer the controller expands labels with.
void CheckLabelTemplate(YamlReader& reader, const Field& field, const std::string& label,
                        const std::vector<Material>& materials) {
  auto parts = ParseLabelTemplate(label);
  if (!parts.ok()) {
    reader.Error(field.value_location,
                 absl::StrCat("label_template: ", parts.status().message()));
    return;
  }
  for (const LabelPart& part : *parts) {
    if (part.ref.empty() || part.ref == "COUNT") continue;
    bool known = false;
    for (const Material& m : materials) known = known || m.name == part.ref;
    if (!known) {
      std::string ref = part.truncate > 0 ? absl::StrCat(part.ref, "[:", part.truncate, "]")
                                          : part.ref;
      reader.Error(field.value_location,
                   absl::StrCat("label_template: unknown reference '${", ref,
                                "}': use ${COUNT} or a material name, as "
                                "${name} or ${name[:N]}"));
    }
  }
  if (label.find("#{") != std::string::npos) {
    reader.Error(field.value_location,
                 "label_template: parameters ('#{…}') are not supported by "
                 "Gantry");
  }
}

// Rules across a pipeline's materials (each material read on its own first).
void CheckMaterials(YamlReader& reader,
                    const std::vector<Material>& materials) {
  std::map<std::string, const Material*> upstreams;
  std::map<std::string, const Material*> revision_vars;
  std::map<std::string, const Material*> destinations;
  int git_count = 0;
  for (const Material& m : materials)
    git_count += m.type == Material::Type::kGit;
  for (const Material& m : materials) {
    auto [var, fresh_var] =
        revision_vars.emplace(RevisionVariableName(m.name), &m);
    if (!fresh_var) {
      reader.Error(m.location,
                   absl::StrCat("materials '", var->second->name, "' and '",
                                m.name, "' would both set ", var->first));
    }
    if (m.type == Material::Type::kPipeline) {
      if (m.pipeline.empty()) continue;
      auto [it, fresh] = upstreams.emplace(m.pipeline, &m);
      if (!fresh) {
        reader.Error(m.location,
                     absl::StrCat("pipeline '", m.pipeline,
                                  "' is already a material of this pipeline "
                                  "(as '",
                                  it->second->name, "' at ",
                                  LocationText(it->second->location), ")"));
      }
      continue;
    }
    if (git_count < 2) continue;
    if (m.destination.empty()) {
      reader.Error(m.location,
                   absl::StrCat("git material '", m.name,
                                "' needs a 'destination': with several git "
                                "materials each is checked out into its own "
                                "directory"));
      continue;
    }
    auto [it, fresh] = destinations.emplace(m.destination, &m);
    if (!fresh) {
      reader.Error(
          m.location,
          absl::StrCat("git materials '", it->second->name, "' and '", m.name,
                       "' both check out into '", m.destination, "'"));
    }
  }
}

// `lock_behavior`, or GoCD's older `locking: on|off`.
void ReadLockBehavior(YamlReader& reader, const Fields& fields, Pipeline* p) {
  const Field* lock = fields.Get("lock_behavior");
  const Field* locking = fields.Get("locking");
  if (lock) {
    static const std::vector<absl::string_view> kAllowed = {
        "none", "lockOnFailure", "unlockWhenFinished"};
    int choice = ReadChoice(reader, *lock, kAllowed);
    if (choice >= 0) p->lock_behavior = static_cast<LockBehavior>(choice);
    if (locking) {
      reader.Error(locking->key_location,
                   "give either 'locking' or 'lock_behavior', not both");
    }
  } else if (locking) {
    // GoCD's older spelling: `locking: on` is lockOnFailure.
    if (std::optional<bool> on = reader.Bool(*locking)) {
      p->lock_behavior = *on ? LockBehavior::kLockOnFailure : LockBehavior::kNone;
    }
  }
}

// Gantry's own deploy controls: `paused` and `triggerers`.
void ReadDeployControls(YamlReader& reader, const Fields& fields, Pipeline* p) {
  if (const Field* f = fields.Get("paused")) p->paused = reader.Bool(*f).value_or(false);
  if (const Field* f = fields.Get("triggerers")) {
    p->triggerers = ParseGrant(reader, *f, "'triggerers'");
  }
}

}  // namespace

Pipeline ParsePipeline(YamlReader& reader, const Field& entry) {
  Pipeline p;
  p.name = entry.key;
  p.location = entry.key_location;
  p.group = std::string(kDefaultGroup);
  p.label_template = "${COUNT}";
  CheckName(reader, entry.key_location, "pipeline", p.name);
  std::optional<Fields> fields = reader.Object(
      entry, absl::StrCat("pipeline '", p.name, "'"), kPipelineKeys);
  if (!fields) return p;

  if (const Field* f = fields->Get("group")) {
    if (std::optional<std::string> group = reader.String(*f)) {
      if (CheckName(reader, f->value_location, "group", *group))
        p.group = *group;
    }
  }
  if (const Field* f = fields->Get("materials")) {
    p.materials = ParseMaterials(reader, *f);
    CheckMaterials(reader, p.materials);
  }
  if (const Field* f = fields->Get("label_template")) {
    if (std::optional<std::string> label = reader.String(*f)) {
      if (label->empty()) {
        reader.Error(f->value_location, "label_template is empty");
      } else {
        p.label_template = *label;
        CheckLabelTemplate(reader, *f, *label, p.materials);
      }
    }
  }
  ReadLockBehavior(reader, *fields, &p);
  ReadDeployControls(reader, *fields, &p);
  p.variables = ParseVariables(reader, *fields);

  const Field* stages = fields->Get("stages");
  if (stages) p.stages = ParseStages(reader, *stages, p.name);
  bool has_template =
      entry.value.IsMap() && entry.value["template"].IsDefined();
  bool no_entries = !stages || stages->value.IsNull() ||
                    (stages->value.IsSequence() && stages->value.size() == 0);
  if (no_entries && !has_template) {
    reader.Error(entry.key_location,
                 absl::StrCat("pipeline '", p.name, "' has no stages"));
  }
  return p;
}

}  // namespace gantry::config::internal
