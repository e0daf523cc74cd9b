#include "cli/run_format.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/controls_format.h"
#include "cli/format.h"
#include "cli/material_format.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string StageTitle(const v1::StageRun& stage) {
  std::string title = absl::StrCat("stage ", stage.name());
  if (stage.counter() > 0)
    absl::StrAppend(&title, " (attempt ", stage.counter(), ")");
  return title;
}

}  // namespace

std::string TriggeredBy(const v1::BuildCause& cause) {
  if (!cause.user().empty()) return cause.user();
  for (const v1::MaterialRevision& m : cause.materials()) {
    if (!m.upstream_pipeline().empty()) return MaterialRevisionText(m);
  }
  return OrDash(cause.kind());
}

std::string MaterialRevisionText(const v1::MaterialRevision& m) {
  if (m.upstream_pipeline().empty()) return OrDash(m.revision());
  std::string text =
      absl::StrCat(m.upstream_pipeline(), "/", m.upstream_counter());
  if (!m.upstream_stage().empty())
    absl::StrAppend(&text, "/", m.upstream_stage());
  if (m.upstream_stage_counter() > 1) {
    absl::StrAppend(&text, "/", m.upstream_stage_counter());
  }
  return text;
}

void PrintPipelineRun(const v1::PipelineRun& run, absl::TimeZone tz,
                      absl::Time now, std::ostream& out) {
  const v1::BuildCause& cause = run.cause();
  std::string cause_text = OrDash(cause.kind());
  if (!cause.user().empty()) absl::StrAppend(&cause_text, " by ", cause.user());
  if (!cause.message().empty()) {
    absl::StrAppend(&cause_text, ": ", cause.message());
  }

  out << "pipeline:        " << run.pipeline() << "/" << run.counter() << "\n";
  out << "label:           " << OrDash(run.label()) << "\n";
  out << "state:           " << OrDash(run.state()) << "\n";
  out << "config revision: " << run.config_revision() << "\n";
  out << "created:         " << FormatTimestamp(run.created_at(), tz) << "\n";
  out << "build cause:     " << cause_text << "\n";
  // The pipeline's pause and lock now (filled by `pipeline show`).
  for (const std::string& line : ControlsLines(run.controls(), tz)) out << line << "\n";
  if (!run.variables().empty()) {
    std::vector<std::string> vars;
    for (const v1::EnvironmentVariable& v : run.variables()) {
      vars.push_back(
          absl::StrCat(v.name(), "=", v.secure() ? "****" : v.value()));
    }
    out << "variables:       " << JoinOr(vars) << "\n";
  }
  if (!cause.materials().empty()) {
    out << "materials:\n";
    Table materials({"MATERIAL", "TYPE", "REVISION"});
    for (const v1::MaterialRevision& m : cause.materials()) {
      materials.AddRow(
          {m.material(), OrDash(m.type()), MaterialRevisionText(m)});
    }
    materials.Print(out, 2);
    PrintMaterialCommits(cause, tz, out);
  }

  for (const v1::StageRun& stage : run.stages()) {
    out << "\n"
        << StageTitle(stage) << ": " << OrDash(stage.state()) << ", approval "
        << OrDash(stage.approval());
    if (!stage.approved_by().empty())
      out << ", approved by " << stage.approved_by();
    if (IsSet(stage.created_at())) {
      out << ", took "
          << FormatElapsed(stage.created_at(), stage.finished_at(), now);
    }
    if (!stage.waiting_reason().empty()) out << ", " << stage.waiting_reason();
    if (stage.config_revision() != 0) {
      out << ", under config revision " << stage.config_revision();
    }
    // A quorum's progress: "1 of 2 approvals".
    if (stage.approvals_required() > 1) {
      out << ", " << stage.approvals_size() << " of " << stage.approvals_required()
          << " approvals";
    }
    out << "\n";
    for (const v1::StageApproval& a : stage.approvals()) {
      out << "  approved by " << a.user() << " at "
          << FormatTimestamp(a.at(), tz);
      // The controller keeps comments to one line; an older or foreign one
      // still cannot add lines here.
      if (!a.comment().empty()) {
        out << ": " << absl::StrReplaceAll(a.comment(),
                                           {{"\r", " "}, {"\n", " "}});
      }
      out << "\n";
    }
    if (stage.jobs().empty()) continue;
    Table jobs({"JOB", "STATE", "AGENT", "DURATION", "REASON"});
    for (const v1::JobRun& job : stage.jobs()) {
      std::string agent =
          job.agent_name().empty() ? job.agent_id() : job.agent_name();
      jobs.AddRow({job.name(), OrDash(job.state()), OrDash(agent),
                   FormatElapsed(job.started_at(), job.finished_at(), now),
                   job.reason()});
    }
    jobs.Print(out, 2);
  }
}

std::string WaitingStage(const v1::PipelineRun& run) {
  for (const v1::StageRun& stage : run.stages()) {
    if (stage.state() == "awaiting_approval") return stage.name();
  }
  return "";
}

std::vector<std::string> RunProgress::Update(const v1::PipelineRun& run) {
  std::vector<std::string> lines;
  const std::string prefix = absl::StrCat(run.pipeline(), "/", run.counter());
  for (const v1::StageRun& stage : run.stages()) {
    std::string stage_path = absl::StrCat(prefix, "/", stage.name());
    if (stage.counter() > 1) absl::StrAppend(&stage_path, "/", stage.counter());
    std::optional<std::string> stage_line;
    std::string& stage_last = last_[absl::StrCat("s:", stage_path)];
    // A stage or job that has not started yet is not news.
    if (stage.state() != stage_last &&
        !(stage_last.empty() && stage.state() == "not_run")) {
      stage_line = absl::StrCat(stage_path, ": ", stage.state());
    }
    stage_last = stage.state();
    // A stage's start reads before its jobs, its result after them.
    bool stage_ended = stage.state() == "passed" || stage.state() == "failed" ||
                       stage.state() == "cancelled";
    if (stage_line && !stage_ended) lines.push_back(*stage_line);
    for (const v1::JobRun& job : stage.jobs()) {
      // A usable `gantry job log` locator.
      std::string job_path = absl::StrCat(stage_path, "/", job.name());
      std::string& job_last = last_[absl::StrCat("j:", job_path)];
      std::string seen = absl::StrCat(job.state(), "|", job.attempt_id());
      if (seen == job_last) continue;
      bool first_seen = job_last.empty();
      job_last = seen;
      if (first_seen && job.state() == "not_run") continue;
      std::string line = absl::StrCat(job_path, ": ", job.state());
      std::string agent =
          job.agent_name().empty() ? job.agent_id() : job.agent_name();
      if (!agent.empty() &&
          (job.state() == "assigned" || job.state() == "running")) {
        absl::StrAppend(&line, " on ", agent);
      }
      if (!job.reason().empty())
        absl::StrAppend(&line, " (", job.reason(), ")");
      lines.push_back(absl::StrReplaceAll(line, {{"\r", " "}, {"\n", " "}}));
    }
    if (stage_line && stage_ended) lines.push_back(*stage_line);
  }
  return lines;
}

}  // namespace gantry::cli
