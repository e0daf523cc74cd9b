// gantry pipeline list|history|show|trigger|pause|unpause|unlock.
#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "cli/controls_format.h"
#include "cli/flag_checks.h"
#include "cli/format.h"
#include "cli/run_format.h"
#include "common/locator.h"
#include "common/names.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::Status CheckPipelineName(const std::string& name) {
  if (IsValidName(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("bad pipeline name '", name,
                   "': use letters, digits, '-', '_' and '.', starting with a letter, "
                   "digit or '_'"));
}

// PIPELINE/COUNTER, or a bare PIPELINE for its newest run (counter 0).
absl::StatusOr<Locator> ParseRunOrPipeline(const std::string& text) {
  if (text.find('/') == std::string::npos) {
    if (!IsValidName(text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad locator '", text,
                       "': invalid pipeline name (expected PIPELINE or "
                       "PIPELINE/COUNTER)"));
    }
    Locator loc;
    loc.pipeline = text;
    return loc;
  }
  return ParseLocator(text, LocatorKind::kPipelineRun);
}

// Splits NAME=VALUE; `what` names the flag in errors.
absl::StatusOr<std::pair<std::string, std::string>> SplitAssignment(const std::string& text,
                                                                    const std::string& what,
                                                                    const std::string& shape) {
  RETURN_IF_ERROR(RequireUtf8(text, absl::StrCat("bad ", what)));
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (parts.size() != 2 || parts[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", what, " '", text, "': expected ", shape));
  }
  return std::make_pair(parts[0], parts[1]);
}

absl::StatusOr<int> List(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListPipelinesResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(
      conn->stub().ListPipelines(context.get(), v1::ListPipelinesRequest(), &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  // LOCK only when some pipeline has one (lock_behavior other than none).
  bool locks = false;
  for (const v1::PipelineSummary& p : response.pipelines()) {
    locks |= LockText(p.controls()) != "-";
  }
  std::vector<std::string> header = {"NAME", "GROUP", "LATEST", "STATE", "PAUSED"};
  if (locks) header.push_back("LOCK");
  Table table(header);
  std::vector<std::string> notes;  // who paused what, and waiting triggers
  for (const v1::PipelineSummary& p : response.pipelines()) {
    std::string paused = PausedText(p.controls(), ctx.time_zone());
    if (!paused.empty() && !p.controls().paused_by().empty()) {
      notes.push_back(absl::StrCat(p.name(), " is paused ", paused));
    }
    std::string waiting = WaitingText(p.controls());
    if (!waiting.empty())
      notes.push_back(absl::StrCat(p.name(), " has a trigger waiting: ", waiting));
    std::string latest = "-";
    if (p.latest_counter() > 0) {
      latest = absl::StrCat(p.latest_counter());
      if (!p.latest_label().empty() && p.latest_label() != latest) {
        absl::StrAppend(&latest, " (", p.latest_label(), ")");
      }
    }
    std::vector<std::string> row = {p.name(), p.group().empty() ? "-" : p.group(), latest,
                                    p.latest_state().empty() ? "-" : p.latest_state(),
                                    p.paused() ? "yes" : "no"};
    if (locks) row.push_back(LockText(p.controls()));
    table.AddRow(std::move(row));
  }
  table.Print(ctx.out());
  if (!notes.empty()) ctx.out() << "\n";
  for (const std::string& note : notes) ctx.out() << note << "\n";
  return kExitOk;
}

// pause, unpause and unlock: one call each, answered with the controls.
enum class ControlAction { kPause, kUnpause, kUnlock };

absl::StatusOr<int> Control(CommandContext& ctx, ControlAction action, const std::string& pipeline,
                            const std::string& reason) {
  RETURN_IF_ERROR(CheckPipelineName(pipeline));
  if (action == ControlAction::kPause) {
    RETURN_IF_ERROR(RequireUtf8(reason, "bad --reason"));
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::PipelineControls controls;
  auto context = conn->NewContext();
  grpc::Status st;
  if (action == ControlAction::kPause) {
    v1::PausePipelineRequest request;
    request.set_pipeline(pipeline);
    request.set_reason(reason);
    st = conn->stub().PausePipeline(context.get(), request, &controls);
  } else {
    v1::PipelineRequest request;
    request.set_pipeline(pipeline);
    st = action == ControlAction::kUnpause
             ? conn->stub().UnpausePipeline(context.get(), request, &controls)
             : conn->stub().UnlockPipeline(context.get(), request, &controls);
  }
  RETURN_IF_ERROR(conn->Check(st));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(controls));
    return kExitOk;
  }
  switch (action) {
    case ControlAction::kPause:
      ctx.out() << "paused " << pipeline << " " << PausedText(controls, ctx.time_zone()) << "\n";
      break;
    case ControlAction::kUnpause:
      ctx.out() << "unpaused " << pipeline << "\n";
      break;
    case ControlAction::kUnlock:
      ctx.out() << "unlocked " << pipeline << "\n";
      break;
  }
  return kExitOk;
}

absl::StatusOr<int> History(CommandContext& ctx, const std::string& pipeline, int limit) {
  RETURN_IF_ERROR(CheckPipelineName(pipeline));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::PipelineHistoryRequest request;
  request.set_pipeline(pipeline);
  request.set_limit(limit);
  v1::PipelineHistoryResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().PipelineHistory(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"COUNTER", "LABEL", "STATE", "TRIGGERED-BY", "CREATED"});
  for (const v1::PipelineRun& run : response.runs()) {
    table.AddRow({absl::StrCat(run.counter()), run.label(), run.state(), TriggeredBy(run.cause()),
                  FormatTimestamp(run.created_at(), ctx.time_zone())});
  }
  table.Print(ctx.out());
  return kExitOk;
}

absl::StatusOr<v1::PipelineRun> GetRun(CommandContext& ctx, Connection& conn,
                                       const std::string& pipeline, int64_t counter) {
  v1::GetPipelineRunRequest request;
  request.set_pipeline(pipeline);
  request.set_counter(counter);
  v1::PipelineRun run;
  auto context = conn.NewContext();
  RETURN_IF_ERROR(conn.Check(conn.stub().GetPipelineRun(context.get(), request, &run)));
  return run;
}

absl::StatusOr<int> Show(CommandContext& ctx, const std::string& text) {
  ASSIGN_OR_RETURN(Locator loc, ParseRunOrPipeline(text));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  ASSIGN_OR_RETURN(v1::PipelineRun run, GetRun(ctx, *conn, loc.pipeline, loc.counter));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(run));
    return kExitOk;
  }
  PrintPipelineRun(run, ctx.time_zone(), ctx.Now(), ctx.out());
  return kExitOk;
}

struct TriggerFlags {
  std::string pipeline;
  std::vector<std::string> revisions;
  std::vector<std::string> variables;
  bool wait = false;
};

// Polls the run until it ends or stops at a manual gate, printing each stage
// and job state change. Returns the exit status for the final state.
absl::StatusOr<int> WaitForRun(CommandContext& ctx, Connection& conn, v1::PipelineRun run) {
  RunProgress progress;
  while (true) {
    if (!ctx.json()) {
      for (const std::string& line : progress.Update(run)) {
        ctx.out() << line << "\n";
      }
      ctx.out().flush();
    }
    const std::string where = absl::StrCat(run.pipeline(), "/", run.counter());
    const std::string& state = run.state();
    if (state == "passed" || state == "failed" || state == "cancelled" ||
        state == "awaiting_approval") {
      if (ctx.json()) {
        RETURN_IF_ERROR(ctx.PrintJson(run));
      } else if (state == "awaiting_approval") {
        std::string gate = WaitingStage(run);
        ctx.out() << where << " is waiting for approval";
        if (!gate.empty()) {
          ctx.out() << " of stage " << gate << " (gantry stage approve " << where << "/" << gate
                    << ")";
        }
        ctx.out() << "\n";
      } else {
        ctx.out() << where << " " << state << "\n";
      }
      if (state == "passed") return kExitOk;
      if (state == "awaiting_approval") return kExitAwaitingApproval;
      return kExitFailure;
    }
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(ctx.options().poll_interval));
    v1::PipelineRun next;
    RETURN_IF_ERROR(ctx.CallWithRetry([&]() -> absl::Status {
      ASSIGN_OR_RETURN(next, GetRun(ctx, conn, run.pipeline(), run.counter()));
      return absl::OkStatus();
    }));
    run = std::move(next);
  }
}

absl::StatusOr<int> Trigger(CommandContext& ctx, const TriggerFlags& flags) {
  RETURN_IF_ERROR(CheckPipelineName(flags.pipeline));
  v1::TriggerPipelineRequest request;
  request.set_pipeline(flags.pipeline);
  for (const std::string& text : flags.revisions) {
    ASSIGN_OR_RETURN(auto kv, SplitAssignment(text, "--revision", "MATERIAL=REVISION"));
    if (kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --revision '", text, "': expected MATERIAL=REVISION"));
    }
    if (request.revisions().count(kv.first) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--revision given twice for material '", kv.first, "'"));
    }
    (*request.mutable_revisions())[kv.first] = kv.second;
  }
  std::map<std::string, bool> seen_vars;
  for (const std::string& text : flags.variables) {
    ASSIGN_OR_RETURN(auto kv, SplitAssignment(text, "--var", "NAME=VALUE"));
    if (absl::Status bad = CheckTriggerVariable(kv.first); !bad.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad --var: ", bad.message()));
    }
    if (seen_vars[kv.first]) {
      return absl::InvalidArgumentError(absl::StrCat("--var given twice for '", kv.first, "'"));
    }
    seen_vars[kv.first] = true;
    v1::EnvironmentVariable* var = request.add_variables();
    var->set_name(kv.first);
    var->set_value(kv.second);
  }

  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::PipelineRun run;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().TriggerPipeline(context.get(), request, &run)));
  if (!flags.wait) {
    if (ctx.json()) {
      RETURN_IF_ERROR(ctx.PrintJson(run));
    } else {
      ctx.out() << "triggered " << run.pipeline() << "/" << run.counter() << "\n";
    }
    return kExitOk;
  }
  if (!ctx.json()) {
    ctx.out() << "triggered " << run.pipeline() << "/" << run.counter() << "\n";
    ctx.out().flush();
  }
  return WaitForRun(ctx, *conn, std::move(run));
}

void AddListCommand(CLI::App& pipeline, Action* action) {
  CLI::App* list = pipeline.add_subcommand("list", "List pipelines");
  list->callback([action] { *action = [](CommandContext& ctx) { return List(ctx); }; });
}

void AddHistoryCommand(CLI::App& pipeline, Action* action) {
  struct HistoryFlags {
    std::string pipeline;
    int limit = 0;
  };
  auto history_flags = std::make_shared<HistoryFlags>();
  CLI::App* history = pipeline.add_subcommand("history", "Show a pipeline's runs, newest first");
  history->add_option("PIPELINE", history_flags->pipeline, "Pipeline name")->required();
  history
      ->add_option("--limit", history_flags->limit,
                   "At most this many runs (default: the controller's)")
      ->check(AtLeastOne());
  history->callback([action, history_flags] {
    *action = [history_flags](CommandContext& ctx) {
      return History(ctx, history_flags->pipeline, history_flags->limit);
    };
  });
}

void AddShowCommand(CLI::App& pipeline, Action* action) {
  auto show_locator = std::make_shared<std::string>();
  CLI::App* show = pipeline.add_subcommand("show", "Show a pipeline run with its stages and jobs");
  show->add_option("RUN", *show_locator, "PIPELINE/COUNTER, or PIPELINE for the newest run")
      ->required();
  show->callback([action, show_locator] {
    *action = [show_locator](CommandContext& ctx) { return Show(ctx, *show_locator); };
  });
}

void AddTriggerCommand(CLI::App& pipeline, Action* action) {
  auto trigger_flags = std::make_shared<TriggerFlags>();
  CLI::App* trigger = pipeline.add_subcommand("trigger", "Start a pipeline run");
  trigger->add_option("PIPELINE", trigger_flags->pipeline, "Pipeline name")->required();
  trigger
      ->add_option("--revision", trigger_flags->revisions,
                   "MATERIAL=REVISION to build instead of the latest; for a pipeline "
                   "material, the upstream run: N or UPSTREAM/N")
      ->allow_extra_args(false);
  trigger->add_option("--var", trigger_flags->variables, "NAME=VALUE variable override")
      ->allow_extra_args(false);
  trigger->add_flag("--wait", trigger_flags->wait,
                    "Wait until the run ends or stops at a manual gate "
                    "(exit 0 passed, 1 failed/cancelled, 3 awaiting approval)");
  trigger->callback([action, trigger_flags] {
    *action = [trigger_flags](CommandContext& ctx) { return Trigger(ctx, *trigger_flags); };
  });
}

void AddControlCommands(CLI::App& pipeline, Action* action) {
  struct ControlFlags {
    std::string pipeline;
    std::string reason;
  };
  auto flags = std::make_shared<ControlFlags>();
  CLI::App* pause = pipeline.add_subcommand(
      "pause", "Pause a pipeline: no trigger and no approval until it is unpaused");
  pause->add_option("PIPELINE", flags->pipeline, "Pipeline name")->required();
  pause->add_option("--reason", flags->reason, "Why (shown to whoever is refused)");
  pause->callback([action, flags] {
    *action = [flags](CommandContext& ctx) {
      return Control(ctx, ControlAction::kPause, flags->pipeline, flags->reason);
    };
  });
  CLI::App* unpause = pipeline.add_subcommand(
      "unpause", "Unpause a pipeline; an upstream trigger that waited runs now");
  unpause->add_option("PIPELINE", flags->pipeline, "Pipeline name")->required();
  unpause->callback([action, flags] {
    *action = [flags](CommandContext& ctx) {
      return Control(ctx, ControlAction::kUnpause, flags->pipeline, "");
    };
  });
  CLI::App* unlock = pipeline.add_subcommand(
      "unlock", "Release a pipeline's lock (lock_behavior) held by a run that is not building");
  unlock->add_option("PIPELINE", flags->pipeline, "Pipeline name")->required();
  unlock->callback([action, flags] {
    *action = [flags](CommandContext& ctx) {
      return Control(ctx, ControlAction::kUnlock, flags->pipeline, "");
    };
  });
}

}  // namespace

void AddPipelineCommands(CLI::App& app, Action* action) {
  CLI::App* pipeline =
      app.add_subcommand("pipeline", "List, inspect, trigger, pause and unlock pipelines");
  pipeline->require_subcommand(1);
  AddListCommand(*pipeline, action);
  AddHistoryCommand(*pipeline, action);
  AddShowCommand(*pipeline, action);
  AddVsmCommand(*pipeline, action);
  AddTriggerCommand(*pipeline, action);
  AddControlCommands(*pipeline, action);
}

}  // namespace gantry::cli
