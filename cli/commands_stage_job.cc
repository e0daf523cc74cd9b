// gantry stage approve, gantry job log.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "common/locator.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::StatusOr<int> Approve(CommandContext& ctx, const std::string& text) {
  ASSIGN_OR_RETURN(Locator loc, ParseLocator(text, LocatorKind::kStage));
  if (loc.stage_counter > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad locator '", text,
        "': approval applies to the stage, not an attempt (expected "
        "PIPELINE/COUNTER/STAGE)"));
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::StageRequest request;
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  request.set_stage(loc.stage);
  v1::PipelineRun run;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(
      conn->Check(conn->stub().ApproveStage(context.get(), request, &run)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(run));
    return kExitOk;
  }
  ctx.out() << "approved " << loc.ToString();
  for (const v1::StageRun& stage : run.stages()) {
    if (stage.name() == loc.stage && !stage.state().empty()) {
      ctx.out() << " (stage " << stage.state() << ")";
      break;
    }
  }
  ctx.out() << "\n";
  return kExitOk;
}

struct LogFlags {
  std::string locator;
  bool follow = false;
};

// Reads the console log from offset 0. Without --follow it reads what is
// stored now; with --follow it keeps polling until the attempt is complete.
// In JSON mode the chunks are gathered into one GetJobLogResponse.
absl::StatusOr<int> Log(CommandContext& ctx, const LogFlags& flags) {
  ASSIGN_OR_RETURN(Locator loc, ParseLocator(flags.locator, LocatorKind::kJob));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::GetJobLogRequest request;
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  request.set_stage(loc.stage);
  request.set_stage_counter(loc.stage_counter);
  request.set_job(loc.job);
  request.set_offset(0);

  v1::GetJobLogResponse all;
  auto fetch = [&](v1::GetJobLogResponse* response) {
    auto context = conn->NewContext();
    return conn->Check(
        conn->stub().GetJobLog(context.get(), request, response));
  };
  bool first = true;
  while (true) {
    v1::GetJobLogResponse response;
    if (first || !flags.follow) {
      // The first call reports a bad locator or token straight away.
      RETURN_IF_ERROR(fetch(&response));
    } else {
      RETURN_IF_ERROR(ctx.CallWithRetry([&] { return fetch(&response); }));
    }
    first = false;
    if (!response.data().empty()) {
      if (ctx.json()) {
        all.mutable_data()->append(response.data());
      } else {
        ctx.out().write(response.data().data(),
                        static_cast<std::streamsize>(response.data().size()));
        ctx.out().flush();
      }
    }
    all.set_next_offset(response.next_offset());
    all.set_complete(response.complete());
    all.set_state(response.state());
    bool advanced = response.next_offset() > request.offset();
    if (advanced) request.set_offset(response.next_offset());
    if (response.complete()) break;
    if (response.data().empty() || !advanced) {
      if (!flags.follow) break;  // caught up with what is stored
      std::this_thread::sleep_for(
          absl::ToChronoNanoseconds(ctx.options().poll_interval));
    }
  }
  if (ctx.json()) RETURN_IF_ERROR(ctx.PrintJson(all));
  return kExitOk;
}

}  // namespace

void AddStageCommands(CLI::App& app, Action* action) {
  CLI::App* stage = app.add_subcommand("stage", "Act on stage runs");
  stage->require_subcommand(1);

  auto locator = std::make_shared<std::string>();
  CLI::App* approve = stage->add_subcommand(
      "approve", "Approve a stage waiting at a manual gate");
  approve->add_option("STAGE", *locator, "PIPELINE/COUNTER/STAGE")->required();
  approve->callback([action, locator] {
    *action = [locator](CommandContext& ctx) { return Approve(ctx, *locator); };
  });
}

void AddJobCommands(CLI::App& app, Action* action) {
  CLI::App* job = app.add_subcommand("job", "Inspect job runs");
  job->require_subcommand(1);

  auto flags = std::make_shared<LogFlags>();
  CLI::App* log = job->add_subcommand("log", "Print a job's console log");
  log->add_option("JOB", flags->locator,
                  "PIPELINE/COUNTER/STAGE[/ATTEMPT]/JOB (default attempt: the "
                  "newest)")
      ->required();
  log->add_flag("-f,--follow", flags->follow,
                "Keep printing until the job has finished");
  log->callback([action, flags] {
    *action = [flags](CommandContext& ctx) { return Log(ctx, *flags); };
  });
}

}  // namespace gantry::cli
