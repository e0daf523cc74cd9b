// Reads one pipeline: its own keys, its label template and its stages, and
// checks the rules local to it (unique stage names, material layout).
#include <cstdint>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/cron.h"
#include "common/config/parse_internal.h"
#include "common/label_template.h"

namespace gantry::config::internal {
namespace {

const KeySet kPipelineKeys = {
    {"group", "label_template", "lock_behavior", "locking", "environment_variables",
     "secure_variables", "materials", "stages", "paused", "triggerers", "display_order", "template",
     "parameters", "timer"},
    {"tracking_tool", "mingle"}};

// Checks ${…} references of a label template: ${COUNT}, ${material} and
// ${material[:N]} (GoCD's forms without parameters and env), with the same
// tokenizer the controller expands labels with.
void CheckLabelTemplate(YamlReader& reader, const Field& field, const std::string& label,
                        const std::vector<Material>& materials,
                        const UnsupportedMaterials& unsupported) {
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
    std::string ref =
        part.truncate > 0 ? absl::StrCat(part.ref, "[:", part.truncate, "]") : part.ref;
    const std::pair<std::string, std::string>* lacking = nullptr;
    for (const auto& u : unsupported) {
      if (u.first == part.ref) lacking = &u;
    }
    if (!known && lacking != nullptr) {
      reader.Error(
          field.value_location,
          absl::StrCat("label_template: '${", ref, "}' refers to material '", part.ref,
                       "', whose type '", lacking->second, "' is not supported by Gantry"));
    } else if (!known) {
      reader.Error(field.value_location,
                   absl::StrCat("label_template: unknown reference '${", ref,
                                "}': use ${COUNT} or a material name, as "
                                "${name} or ${name[:N]}"));
    }
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

// `timer: {spec: "0 0 22 ? * MON-FRI", only_on_changes: true}` (GoCD's).
void ReadTimer(YamlReader& reader, const Field& field, Pipeline* p) {
  static const KeySet kTimerKeys = {{"spec", "only_on_changes"}, {}};
  std::optional<Fields> fields = reader.Object(field, "timer", kTimerKeys);
  if (!fields) return;
  const Field* spec = fields->Get("spec");
  std::optional<std::string> text = spec ? reader.String(*spec) : std::nullopt;
  if (!text || text->empty()) {
    if (!spec || spec->value.IsNull()) reader.Error(field.key_location, "timer has no 'spec'");
    return;
  }
  if (absl::StatusOr<CronSpec> cron = CronSpec::Parse(*text); !cron.ok()) {
    reader.Error(spec->value_location, std::string(cron.status().message()));
    return;
  }
  p->timer.spec = *text;
  p->timer.location = field.key_location;
  if (const Field* f = fields->Get("only_on_changes")) {
    p->timer.only_on_changes = reader.Bool(*f).value_or(false);
  }
}

// Substitutes the pipeline's parameters in its own values (all but
// `parameters` and `template`). Returns them, for its template's stages.
ParameterSet SubstituteOwnValues(YamlReader& reader, const Fields& fields,
                                 const PipelineContext& context) {
  ParameterSet params;
  if (const Field* f = fields.Get("parameters")) params = ReadParameters(reader, *f);
  params.strict = fields.Get("parameters") != nullptr || fields.Get("template") != nullptr;
  // Nodes are within the limits already (each node of the file is walked
  // once); the text parameters add is not.
  Limits limits = *context.limits;
  limits.max_expanded_nodes = SIZE_MAX;
  SubstitutionBudget own{0, context.budget->bytes};
  for (const Field& f : fields.all()) {
    if (f.key == "parameters" || f.key == "template") continue;
    if (!SubstituteUnder(reader, f.value, params, limits, &own)) {
      reader.Error(f.key_location,
                   absl::StrCat("parameters take the config past ", limits.max_expanded_bytes,
                                " bytes of text; that is the limit on template expansion"));
      break;
    }
  }
  context.budget->bytes = own.bytes;
  return params;
}

// `template: NAME`: the template's stages, read with the pipeline's
// parameters; errors in them name the template and the pipeline.
void ReadTemplateStages(YamlReader& reader, const Field& field, const ParameterSet& params,
                        const PipelineContext& context, Pipeline* p) {
  std::optional<std::string> name = reader.String(field);
  const Template* t = name ? context.templates->Find(*name) : nullptr;
  if (t == nullptr) {
    p->incomplete = true;
    if (name) {
      std::vector<absl::string_view> names = context.templates->Names();
      std::string close = names.size() < 1000 ? ClosestMatch(*name, names) : "";
      reader.Error(
          field.value_location,
          absl::StrCat("template '", *name,
                       "' is not defined: define it under a top-level 'templates:' "
                       "section, in any of the config files",
                       close.empty() ? "" : absl::StrCat("; did you mean '", close, "'?")));
    } else if (field.value.IsNull()) {
      reader.Error(field.value_location, "template is empty");
    }
    return;
  }
  p->template_name = t->name;
  YamlReader& tr = *t->reader;
  tr.set_context(absl::StrCat("(in template '", t->name, "', used by pipeline '", p->name, "' at ",
                              LocationText(p->location), ")"));
  size_t before = context.budget->nodes;
  if (!SubstituteUnder(tr, t->stages.value, params, *context.limits, context.budget)) {
    tr.set_context("");
    p->incomplete = true;
    reader.Error(field.value_location,
                 absl::StrCat("template '", t->name, "' (", context.budget->nodes - before,
                              "+ nodes) takes the config past ", context.limits->max_expanded_nodes,
                              " nodes or ", context.limits->max_expanded_bytes,
                              " bytes with templates and parameters expanded; that is the limit "
                              "on template expansion"));
    return;
  }
  p->stages = ParseStages(tr, t->stages, p->name);
  tr.set_context("");
  t->stages.value.ClearOverrides();
}

}  // namespace

Pipeline ParsePipeline(YamlReader& reader, const Field& entry, const PipelineContext& context) {
  Pipeline p;
  p.name = entry.key;
  p.location = entry.key_location;
  p.group = std::string(kDefaultGroup);
  p.label_template = "${COUNT}";
  CheckName(reader, entry.key_location, "pipeline", p.name);
  std::optional<Fields> fields = reader.Object(
      entry, absl::StrCat("pipeline '", p.name, "'"), kPipelineKeys);
  if (!fields) return p;
  ParameterSet params = SubstituteOwnValues(reader, *fields, context);

  if (const Field* f = fields->Get("group")) {
    if (std::optional<std::string> group = reader.String(*f)) {
      if (CheckName(reader, f->value_location, "group", *group))
        p.group = *group;
    }
  }
  UnsupportedMaterials unsupported;
  if (const Field* f = fields->Get("materials")) {
    p.materials = ParseMaterials(reader, *f, &unsupported);
    CheckMaterials(reader, p.materials);
  }
  // GoCD's export writes it; the dashboard orders pipelines by name.
  if (const Field* f = fields->Get("display_order")) reader.Integer(*f);
  if (const Field* f = fields->Get("label_template")) {
    if (std::optional<std::string> label = reader.String(*f)) {
      if (label->empty()) {
        reader.Error(f->value_location, "label_template is empty");
      } else {
        p.label_template = *label;
        CheckLabelTemplate(reader, *f, *label, p.materials, unsupported);
      }
    }
  }
  if (const Field* f = fields->Get("timer")) ReadTimer(reader, *f, &p);
  ReadLockBehavior(reader, *fields, &p);
  ReadDeployControls(reader, *fields, &p);
  p.variables = ParseVariables(reader, *fields);

  const Field* stages = fields->Get("stages");
  const Field* template_field = fields->Get("template");
  if (stages && template_field) {
    reader.Error(
        template_field->key_location,
        absl::StrCat("pipeline '", p.name, "' has both 'stages' and 'template': give one of them"));
  } else if (template_field) {
    ReadTemplateStages(reader, *template_field, params, context, &p);
  }
  if (stages) p.stages = ParseStages(reader, *stages, p.name);
  bool no_entries = !stages || stages->value.IsNull() ||
                    (stages->value.IsSequence() && stages->value.size() == 0);
  if (no_entries && !template_field) {
    reader.Error(entry.key_location,
                 absl::StrCat("pipeline '", p.name, "' has no stages"));
  }
  entry.value.ClearOverrides();
  return p;
}

}  // namespace gantry::config::internal
