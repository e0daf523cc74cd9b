#include "common/config/pipeline_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gantry::config {
namespace {

const char* RunIfText(RunIf r) {
  return r == RunIf::kFailed ? "failed" : r == RunIf::kAny ? "any" : "passed";
}

void AddVariables(const std::vector<Variable>& vars, const std::string& indent, std::string* out) {
  if (vars.empty()) return;
  absl::StrAppend(out, indent, "variables:\n");
  for (const auto& v : vars) {
    absl::StrAppend(out, indent, "  ", v.name, ": ", v.secure ? "**** (secure)" : v.value, "\n");
  }
}

void AddGrant(const char* what, const std::vector<std::string>& names, const std::string& indent,
              std::string* out) {
  if (!names.empty()) absl::StrAppend(out, indent, what, ": ", absl::StrJoin(names, ", "), "\n");
}

void AddTask(const Task& t, const std::string& indent, std::string* out) {
  std::string run_if =
      t.run_if == RunIf::kPassed ? "" : absl::StrCat(" (run_if ", RunIfText(t.run_if), ")");
  if (t.kind == Task::Kind::kFetch) {
    const FetchTask& f = t.fetch;
    absl::StrAppend(out, indent, "- fetch ", f.is_file ? "file " : "",
                    f.pipeline.empty() ? "" : f.pipeline + "/", f.stage, "/", f.job, " ", f.source,
                    " -> ", f.destination.empty() ? "." : f.destination, run_if, "\n");
  } else if (!t.script.empty()) {
    absl::StrAppend(out, indent, "- script", run_if, ":\n");
    for (absl::string_view line : absl::StrSplit(t.script, '\n')) {
      absl::StrAppend(out, indent, "    ", line, "\n");
    }
  } else {
    absl::StrAppend(out, indent, "- exec ", t.exec.command);
    for (const auto& a : t.exec.arguments) absl::StrAppend(out, " ", a);
    if (!t.exec.working_directory.empty()) {
      absl::StrAppend(out, " (in ", t.exec.working_directory, ")");
    }
    absl::StrAppend(out, run_if, "\n");
  }
  for (const auto& c : t.on_cancel) {
    absl::StrAppend(out, indent, "  on_cancel:\n");
    AddTask(c, indent + "    ", out);
  }
}

void AddJob(const Job& j, std::string* out) {
  absl::StrAppend(out, "      - job ", j.name, "\n");
  const std::string in = "        ";
  if (!j.resources.empty())
    absl::StrAppend(out, in, "resources: ", absl::StrJoin(j.resources, ", "), "\n");
  if (!j.elastic_profile_id.empty())
    absl::StrAppend(out, in, "elastic_profile_id: ", j.elastic_profile_id, "\n");
  if (j.run_instances != 0) {
    absl::StrAppend(out, in,
                    "run_instances: ", j.run_instances < 0 ? "all" : absl::StrCat(j.run_instances),
                    "\n");
  }
  if (j.timeout_seconds != 0) absl::StrAppend(out, in, "timeout: ", j.timeout_seconds, "s\n");
  if (j.max_duration_seconds != 0) {
    absl::StrAppend(out, in, "max_duration: ", j.max_duration_seconds, "s\n");
  }
  if (j.on_agent_lost == OnAgentLost::kReschedule)
    absl::StrAppend(out, in, "on_agent_lost: reschedule\n");
  AddVariables(j.variables, in, out);
  absl::StrAppend(out, in, "tasks:\n");
  for (const auto& t : j.tasks) AddTask(t, in + "  ", out);
  if (!j.artifacts.empty()) {
    absl::StrAppend(out, in, "artifacts:\n");
    for (const auto& a : j.artifacts) {
      absl::StrAppend(
          out, in, "  - ", a.kind == Artifact::Kind::kTest ? "test " : "build ", a.source, " -> ",
          a.destination.empty() ? "." : a.destination,
          a.run_if == RunIf::kPassed ? "" : absl::StrCat(" (run_if ", RunIfText(a.run_if), ")"),
          "\n");
    }
  }
}

}  // namespace

std::string PipelineText(const Pipeline& p, const Environment* environment) {
  std::string out = absl::StrCat("pipeline ", p.name, "\n");
  if (!p.group.empty()) absl::StrAppend(&out, "group: ", p.group, "\n");
  if (!p.label_template.empty()) absl::StrAppend(&out, "label_template: ", p.label_template, "\n");
  if (p.lock_behavior != LockBehavior::kNone) {
    absl::StrAppend(
        &out, "lock_behavior: ",
        p.lock_behavior == LockBehavior::kLockOnFailure ? "lockOnFailure" : "unlockWhenFinished",
        "\n");
  }
  if (environment != nullptr) {
    absl::StrAppend(&out, "environment: ", environment->name, "\n");
    AddVariables(environment->variables, "  ", &out);
  }
  absl::StrAppend(&out, "materials:\n");
  for (const auto& m : p.materials) {
    if (m.type == Material::Type::kPipeline) {
      absl::StrAppend(&out, "  ", m.name, ": pipeline ", m.pipeline, " stage ", m.stage,
                      m.ignore_for_scheduling ? " (ignore_for_scheduling)" : "", "\n");
    } else {
      absl::StrAppend(&out, "  ", m.name, ": git ", m.url, " branch ", m.branch,
                      m.destination.empty() ? "" : absl::StrCat(" into ", m.destination),
                      m.shallow_clone ? " (shallow)" : "", "\n");
    }
  }
  AddVariables(p.variables, "", &out);
  absl::StrAppend(&out, "stages:\n");
  for (const auto& s : p.stages) {
    absl::StrAppend(&out, "  - stage ", s.name, "\n");
    const std::string in = "    ";
    absl::StrAppend(&out, in,
                    "approval: ", s.approval.type == Approval::Type::kManual ? "manual" : "success",
                    s.approval.allow_only_on_success ? " (only on success)" : "", "\n");
    AddGrant("approvers", s.approval.users, in, &out);
    AddGrant("approver roles", s.approval.roles, in, &out);
    if (s.approval.required > 1)
      absl::StrAppend(&out, in, "required approvals: ", s.approval.required, "\n");
    if (s.deploys) absl::StrAppend(&out, in, "deploys: true\n");
    if (!s.fetch_materials) absl::StrAppend(&out, in, "fetch_materials: false\n");
    if (s.clean_workspace) absl::StrAppend(&out, in, "clean_workspace: true\n");
    AddVariables(s.variables, in, &out);
    absl::StrAppend(&out, in, "jobs:\n");
    for (const auto& j : s.jobs) AddJob(j, &out);
  }
  return out;
}

}  // namespace gantry::config
