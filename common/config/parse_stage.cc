// Reads `stages:` and each stage's approval and jobs. A stage may also be
// written as a single job (GoCD's shorthand: `tasks:` right in the stage);
// that job is named after the stage.
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/config/duration.h"
#include "common/config/parse_internal.h"
#include "common/names.h"

namespace gantry::config::internal {
namespace {

// Keys of a job body; a stage accepts them too, for the shorthand.
const std::vector<absl::string_view> kJobOnlyKeys = {
    "tasks",     "resources",     "run_instances",      "timeout", "max_duration",
    "artifacts", "on_agent_lost", "elastic_profile_id", "tabs"};
const std::vector<absl::string_view> kJobUnsupported = {"properties"};

KeySet StageKeys() {
  KeySet keys{{"jobs", "approval", "fetch_materials", "clean_workspace", "environment_variables",
               "secure_variables", "deploys", "keep_artifacts"},
              {}};
  keys.known.insert(keys.known.end(), kJobOnlyKeys.begin(), kJobOnlyKeys.end());
  keys.unsupported.insert(keys.unsupported.end(), kJobUnsupported.begin(),
                          kJobUnsupported.end());
  return keys;
}

KeySet JobKeys() {
  KeySet keys{{"environment_variables", "secure_variables"}, kJobUnsupported};
  keys.known.insert(keys.known.end(), kJobOnlyKeys.begin(), kJobOnlyKeys.end());
  return keys;
}

const KeySet kApprovalKeys = {
    {"type", "allow_only_on_success", "users", "roles", "required", "approver_not_triggerer"},
    {}};

// Gantry's own stronger gates: `required: N` distinct approvers and
// `approver_not_triggerer`.
void ReadQuorum(YamlReader& reader, const Fields& fields, Approval* approval) {
  constexpr int kMaxRequired = 100;
  if (const Field* f = fields.Get("required")) {
    std::optional<int64_t> n = reader.Integer(*f);
    if (n && (*n < 1 || *n > kMaxRequired)) {
      reader.Error(f->value_location,
                   absl::StrCat("required must be from 1 to ", kMaxRequired, ", got ", *n));
    } else if (n) {
      approval->required = static_cast<int>(*n);
      bool only_users = approval->roles.empty() && !approval->users.empty();
      if (only_users && approval->required > static_cast<int>(approval->users.size())) {
        reader.Error(f->value_location,
                     absl::StrCat("required ", *n, " approvers, but 'users' lists only ",
                                  approval->users.size(), " and no roles"));
      }
    }
  }
  if (const Field* f = fields.Get("approver_not_triggerer")) {
    approval->approver_not_triggerer = reader.Bool(*f).value_or(false);
  }
}

Approval ParseApproval(YamlReader& reader, const Field& field) {
  Approval approval;
  approval.location = field.key_location;
  // "auto" is GoCD's synonym of "success".
  static const std::vector<absl::string_view> kTypes = {"success", "manual", "auto"};
  if (field.value.IsScalar()) {
    int choice = ReadChoice(reader, field, kTypes);
    if (choice == 1) approval.type = Approval::Type::kManual;
    return approval;
  }
  std::optional<Fields> fields =
      reader.Object(field, "approval", kApprovalKeys);
  if (!fields) return approval;
  if (const Field* f = fields->Get("type")) {
    Field type = *f;
    type.key = "approval type";
    if (ReadChoice(reader, type, kTypes) == 1) {
      approval.type = Approval::Type::kManual;
    }
  }
  if (const Field* f = fields->Get("allow_only_on_success")) {
    approval.allow_only_on_success = reader.Bool(*f).value_or(false);
  }
  if (const Field* f = fields->Get("users"))
    approval.users = reader.StringList(*f);
  if (const Field* f = fields->Get("roles"))
    approval.roles = reader.StringList(*f);
  ReadQuorum(reader, *fields, &approval);
  return approval;
}

// Whole minutes (GoCD's integer) or a duration string such as "90s", "5m",
// "1h30m"; at most about two years.
std::optional<int64_t> ReadJobDuration(YamlReader& reader, const Field& f) {
  constexpr int64_t kMaxSeconds = 1000000 * 60;
  const std::string what = absl::StrCat("'", f.key, "'");
  std::string text = f.value.IsScalar() ? f.value.Scalar() : std::string();
  int64_t seconds = -1;
  std::optional<absl::Duration> d = ParseDuration(text, absl::Minutes(1));
  if (!d || *d != absl::Seconds(absl::ToInt64Seconds(*d))) {
    reader.TypeError(f, "minutes or a duration such as 90s, 5m or 1h30m",
                     what);
    return std::nullopt;
  }
  if (*d <= absl::Seconds(kMaxSeconds)) seconds = absl::ToInt64Seconds(*d);
  if (seconds < 0) {
    reader.Error(f.value_location,
                 absl::StrCat(f.key, " must be from 0 (never) to 1000000 "
                                     "minutes, got ",
                              text));
    return std::nullopt;
  }
  return seconds;
}

// GoCD's `elastic_profile_id` (which agents may run the job, see
// ElasticProfileResource) and `tabs` (kept for the dashboard).
void ReadGoCDJobKeys(YamlReader& reader, const Fields& fields, Job* job) {
  if (const Field* f = fields.Get("elastic_profile_id")) {
    std::optional<std::string> id = reader.String(*f);
    if (id && id->empty()) {
      reader.Error(f->value_location, "elastic_profile_id is empty");
    } else if (id && !IsValidName(ElasticProfileResource(*id))) {
      // It becomes an agent resource, which has the rules of names.
      reader.Error(f->value_location,
                   absl::StrCat("invalid elastic_profile_id '", id->substr(0, 80),
                                "': use letters, digits, '-', '_' and '.'"));
    } else if (id) {
      // Until Gantry starts agents on demand, the profile is a resource the
      // agent must carry (docs/config.md, "Coming from GoCD").
      job->elastic_profile_id = *id;
      job->resources.push_back(ElasticProfileResource(*id));
    }
  }
  if (const Field* f = fields.Get("tabs")) {
    for (const Field& tab : reader.Entries(*f, "'tabs'", "tab", /*ignore_case=*/false)) {
      if (std::optional<std::string> path = reader.String(tab)) {
        job->tabs.emplace_back(tab.key, *path);
      }
    }
  }
}

std::vector<Artifact> ParseArtifacts(YamlReader& reader, const Field& field) {
  static const KeySet kArtifactKeys = {{"source", "destination", "run_if"},
                                       {}};
  std::vector<Artifact> out;
  for (const Field& element : reader.List(field, "'artifacts'")) {
    std::optional<Field> kind =
        ReadOneKeyMap(reader, element, "'artifacts' entry",
                      "the artifact type: build or test");
    if (!kind) continue;
    Artifact artifact;
    if (kind->key == "test") {
      artifact.kind = Artifact::Kind::kTest;
    } else if (kind->key == "external") {
      reader.Error(kind->key_location, "'external' is not supported by Gantry");
      continue;
    } else if (kind->key != "build") {
      reader.Error(kind->key_location,
                   absl::StrCat("invalid artifact type '", kind->key,
                                "': expected one of build, test"));
      continue;
    }
    std::optional<Fields> fields = reader.Object(
        *kind, absl::StrCat(kind->key, " artifact"), kArtifactKeys);
    if (!fields) continue;
    const Field* source = fields->Get("source");
    if (source)
      artifact.source = ReadRelativePath(reader, *source).value_or("");
    if (!source || (artifact.source.empty() && source->value.IsNull())) {
      reader.Error(kind->key_location,
                   absl::StrCat(kind->key, " artifact has no 'source'"));
      continue;
    }
    if (const Field* f = fields->Get("destination")) {
      artifact.destination = ReadRelativePath(reader, *f).value_or("");
    }
    if (const Field* f = fields->Get("run_if")) {
      int choice = ReadChoice(reader, *f, {"passed", "failed", "any"});
      if (choice >= 0) artifact.run_if = static_cast<RunIf>(choice);
    }
    out.push_back(std::move(artifact));
  }
  return out;
}

Job ParseJob(YamlReader& reader, const Field& entry) {
  std::optional<Fields> fields =
      reader.Object(entry, absl::StrCat("job '", entry.key, "'"), JobKeys());
  CheckName(reader, entry.key_location, "job", entry.key);
  return ParseJobBody(reader, entry.key, entry.key_location,
                      fields.value_or(Fields()));
}

std::optional<Stage> ParseStage(YamlReader& reader, const Field& element) {
  std::optional<Field> entry =
      ReadOneKeyMap(reader, element, "'stages' entry", "the stage name");
  if (!entry) return std::nullopt;
  Stage stage;
  stage.name = entry->key;
  stage.location = entry->key_location;
  CheckName(reader, stage.location, "stage", stage.name);
  std::optional<Fields> fields = reader.Object(
      *entry, absl::StrCat("stage '", stage.name, "'"), StageKeys());
  if (!fields) return stage;

  stage.variables = ParseVariables(reader, *fields);
  if (const Field* f = fields->Get("approval")) {
    stage.approval = ParseApproval(reader, *f);
  }
  if (const Field* f = fields->Get("fetch_materials")) {
    stage.fetch_materials = reader.Bool(*f).value_or(true);
  }
  if (const Field* f = fields->Get("clean_workspace")) {
    stage.clean_workspace = reader.Bool(*f).value_or(false);
  }
  if (const Field* f = fields->Get("deploys")) {
    stage.deploys = reader.Bool(*f).value_or(false);
  }
  if (const Field* f = fields->Get("keep_artifacts")) {
    stage.keep_artifacts = reader.Bool(*f).value_or(false);
  }

  const Field* jobs = fields->Get("jobs");
  std::vector<const Field*> job_keys;
  for (absl::string_view key : kJobOnlyKeys) {
    if (const Field* f = fields->Get(key)) job_keys.push_back(f);
  }
  if (jobs) {
    for (const Field* f : job_keys) {
      reader.Error(f->key_location,
                   absl::StrCat("'", f->key, "' belongs in a job: stage '",
                                stage.name, "' has 'jobs'"));
    }
    for (const Field& job_entry :
         reader.Entries(*jobs, "'jobs'", "job", /*ignore_case=*/true)) {
      stage.jobs.push_back(ParseJob(reader, job_entry));
    }
  } else if (!job_keys.empty()) {
    // The single-job shorthand: variables stay on the stage.
    Fields job_fields;
    for (const Field* f : job_keys) job_fields.Add(*f);
    stage.jobs.push_back(
        ParseJobBody(reader, stage.name, stage.location, job_fields));
  }
  if (stage.jobs.empty() &&
      (!jobs || jobs->value.IsNull() ||
       (jobs->value.IsMap() && jobs->value.size() == 0))) {
    reader.Error(stage.location,
                 absl::StrCat("stage '", stage.name, "' has no jobs"));
  }
  return stage;
}

}  // namespace

Job ParseJobBody(YamlReader& reader, const std::string& name,
                 const SourceLocation& at, const Fields& fields) {
  Job job;
  job.name = name;
  job.location = at;
  if (const Field* f = fields.Get("resources")) {
    std::vector<std::string> resources = reader.StringList(*f);
    job.resources.reserve(resources.size());
    for (std::string& r : resources) {
      if (r.empty()) {
        reader.Error(f->value_location, "a resource name is empty");
      } else {
        job.resources.push_back(std::move(r));
      }
    }
  }
  if (const Field* f = fields.Get("run_instances")) {
    int64_t n = 0;
    if (f->value.IsScalar() && f->value.Scalar() == "all") {
      job.run_instances = -1;
    } else if (f->value.IsScalar() &&
               absl::SimpleAtoi(absl::string_view(f->value.Scalar()), &n) &&
               n >= 1 && n <= 1000) {
      job.run_instances = static_cast<int>(n);
    } else {
      reader.TypeError(*f, "a positive integer (at most 1000) or 'all'",
                       "'run_instances'");
    }
  }
  if (const Field* f = fields.Get("timeout")) {
    job.timeout_seconds = ReadJobDuration(reader, *f).value_or(0);
  }
  if (const Field* f = fields.Get("max_duration")) {
    job.max_duration_seconds = ReadJobDuration(reader, *f).value_or(0);
  }
  if (const Field* f = fields.Get("on_agent_lost")) {
    if (ReadChoice(reader, *f, {"fail", "reschedule"}) == 1) {
      job.on_agent_lost = OnAgentLost::kReschedule;
    }
  }
  ReadGoCDJobKeys(reader, fields, &job);
  job.variables = ParseVariables(reader, fields);
  if (const Field* f = fields.Get("artifacts")) {
    job.artifacts = ParseArtifacts(reader, *f);
  }
  const Field* tasks = fields.Get("tasks");
  if (tasks) job.tasks = ParseTasks(reader, *tasks);
  if (job.tasks.empty() &&
      (!tasks || tasks->value.IsNull() ||
       (tasks->value.IsSequence() && tasks->value.size() == 0))) {
    reader.Error(at, absl::StrCat("job '", name, "' has no tasks"));
  }
  return job;
}

std::vector<Stage> ParseStages(YamlReader& reader, const Field& field,
                               const std::string& pipeline) {
  std::vector<Stage> out;
  // Lower-cased name -> index in out: stage names ignore case, as GoCD's.
  std::map<std::string, size_t> seen;
  for (const Field& element : reader.List(field, "'stages'")) {
    std::optional<Stage> stage = ParseStage(reader, element);
    if (!stage) continue;
    auto [it, fresh] =
        seen.emplace(absl::AsciiStrToLower(stage->name), out.size());
    if (!fresh) {
      const Stage& first = out[it->second];
      reader.Error(stage->location,
                   absl::StrCat("duplicate stage '", stage->name,
                                "' in pipeline '", pipeline, "' (first at ",
                                LocationText(first.location), ")"));
      continue;
    }
    // One deploy stage a pipeline: "what is deployed" must have one answer.
    if (stage->deploys) {
      for (const Stage& earlier : out) {
        if (!earlier.deploys) continue;
        reader.Error(stage->location,
                     absl::StrCat("stage '", stage->name, "' of pipeline '", pipeline,
                                  "': only one stage may have 'deploys: true' ('",
                                  earlier.name, "' has it)"));
        stage->deploys = false;
        break;
      }
    }
    out.push_back(std::move(*stage));
  }
  return out;
}

}  // namespace gantry::config::internal
