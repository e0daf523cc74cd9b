// The per-section readers behind ParseConfig. Each reads one part of one
// file, reports what is wrong with it (shape, keys, values, and rules local
// to that part), and returns what it could read so later checks still run.
// Rules that span pipelines or files live in validator.h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config/limits.h"
#include "common/config/model.h"
#include "common/config/parameters.h"
#include "common/config/yaml_reader.h"

namespace gantry::config::internal {

// The default group of a pipeline that names none, as GoCD's YAML plugin.
inline constexpr absl::string_view kDefaultGroup = "defaultGroup";

// A pipeline template, from a top-level `templates:` section (Gantry's
// extension: GoCD keeps templates on its server): its `stages`, read again
// by each pipeline that names it with that pipeline's parameters.
struct Template {
  std::string name;
  SourceLocation location;
  Field stages;
  YamlReader* reader = nullptr;  // of the file it is written in
};

// The templates of all files of one configuration (names ignore case).
class TemplateSet {
 public:
  // Reads `templates:` of one file; a name defined twice is reported.
  void Read(YamlReader& reader, const Field& field);
  const Template* Find(const std::string& name) const;
  std::vector<absl::string_view> Names() const;

 private:
  std::map<std::string, Template> by_lower_name_;
};

// What a pipeline's reading needs beyond its own file.
struct PipelineContext {
  const TemplateSet* templates = nullptr;
  const Limits* limits = nullptr;
  SubstitutionBudget* budget = nullptr;
};

// One entry of `pipelines:` (key = name).
Pipeline ParsePipeline(YamlReader& reader, const Field& entry, const PipelineContext& context);

// Materials of a type Gantry lacks: (name, type), reported when read.
using UnsupportedMaterials = std::vector<std::pair<std::string, std::string>>;

// `materials:` of a pipeline. Those of unsupported types are left out (and
// listed in `unsupported`, when given).
std::vector<Material> ParseMaterials(YamlReader& reader, const Field& field,
                                     UnsupportedMaterials* unsupported = nullptr);

// `stages:` of a pipeline: a list of one-key maps (name: body).
std::vector<Stage> ParseStages(YamlReader& reader, const Field& field,
                               const std::string& pipeline);

// One job, from `jobs:` (key = name) or a stage written as a single job.
// `fields` are the body's accepted keys; `at` is where the name was written.
Job ParseJobBody(YamlReader& reader, const std::string& name,
                 const SourceLocation& at, const Fields& fields);

// `tasks:` of a job (nested lists are flattened, as GoCD does).
std::vector<Task> ParseTasks(YamlReader& reader, const Field& field);

// `environment_variables:` and `secure_variables:` of an object, checked
// together (a name may appear once across both).
std::vector<Variable> ParseVariables(YamlReader& reader, const Fields& fields);

// One entry of `environments:` (key = name).
Environment ParseEnvironment(YamlReader& reader, const Field& entry);

// The top-level `config_repos` section (parse_config_repo.cc).
std::vector<ConfigRepo> ParseConfigRepos(YamlReader& reader, const Field& field);

// The top-level `security` section (parse_security.cc).
Security ParseSecurity(YamlReader& reader, const Field& field);
// `{users: [...], roles: [...]}`: who a permission goes to.
Grant ParseGrant(YamlReader& reader, const Field& field, absl::string_view what);

// Checks what `security`, environments' `deployers` and stages' approvals
// refer to (roles exist, groups have pipelines) once every file is read.
void ValidateSecurity(const Config& config, Diagnostics* diagnostics);

// Reports "invalid <kind> name '<name>': …" unless gantry::IsValidName.
bool CheckName(YamlReader& reader, const SourceLocation& at,
               absl::string_view kind, const std::string& name);

// A path below the working directory: relative, no ".." component.
bool IsInsideWorkingDir(const std::string& path);

// Reads a string field that must be such a path (see IsInsideWorkingDir).
std::optional<std::string> ReadRelativePath(YamlReader& reader,
                                            const Field& field);

// For a value with a fixed set of spellings: "invalid <key> '<value>':
// expected one of a, b, c". Returns the index in `allowed`, or -1.
int ReadChoice(YamlReader& reader, const Field& field,
               const std::vector<absl::string_view>& allowed);

// For a list element that must be a map with exactly one key (a stage, a
// task, an artifact): that key and its value, or nullopt (reported).
// `meaning` says what the key is, e.g. "the stage name".
std::optional<Field> ReadOneKeyMap(YamlReader& reader, const Field& element,
                                   absl::string_view what,
                                   absl::string_view meaning);

}  // namespace gantry::config::internal
