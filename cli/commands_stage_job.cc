// gantry stage approve|cancel|rerun, gantry job log.
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

enum class StageVerb { kApprove, kCancel, kRerun };

struct RerunFlags {
  bool and_following = false;
  bool with_current_config = false;
  bool failed_jobs = false;
};

// --with-current-config: what today's config changes for the run, printed
// before the re-run; the re-run is then pinned to the revision shown.
absl::Status ShowConfigDifference(CommandContext& ctx, Connection* conn,
                                  v1::StageRequest* request) {
  v1::RerunConfigDifferenceResponse diff;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().RerunConfigDifference(context.get(), *request, &diff)));
  // With -o json the answer on stdout stays one JSON document.
  std::ostream& out = ctx.json() ? ctx.err() : ctx.out();
  if (diff.difference().empty()) {
    out << "config revision " << diff.run_revision() << " -> " << diff.current_revision()
        << ": no difference for pipeline " << request->pipeline()
        << "\n";
  } else {
    out << diff.difference();
  }
  request->set_config_revision(diff.current_revision());
  return absl::OkStatus();
}

// `comment` goes with an approval (the controller records it).
absl::StatusOr<int> ActOnStage(CommandContext& ctx, const std::string& text, StageVerb verb,
                               const std::string& comment = "", RerunFlags rerun = {}) {
  ASSIGN_OR_RETURN(Locator loc, ParseLocator(text, LocatorKind::kStage));
  if (loc.stage_counter > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad locator '", text, "': ",
                     verb == StageVerb::kApprove  ? "approval"
                     : verb == StageVerb::kCancel ? "cancel"
                                                  : "a re-run",
                     " applies to the stage, not an attempt (expected "
                     "PIPELINE/COUNTER/STAGE)"));
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::StageRequest request;
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  request.set_stage(loc.stage);
  request.set_comment(comment);
  request.set_and_following(rerun.and_following);
  request.set_with_current_config(rerun.with_current_config);
  request.set_failed_jobs(rerun.failed_jobs);
  if (verb == StageVerb::kRerun && rerun.with_current_config) {
    RETURN_IF_ERROR(ShowConfigDifference(ctx, conn, &request));
  }
  v1::PipelineRun run;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(
      verb == StageVerb::kApprove  ? conn->stub().ApproveStage(context.get(), request, &run)
      : verb == StageVerb::kCancel ? conn->stub().CancelStage(context.get(), request, &run)
                                   : conn->stub().RerunStage(context.get(), request, &run)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(run));
    return kExitOk;
  }
  const v1::StageRun* stage = nullptr;
  for (const v1::StageRun& s : run.stages()) {
    if (s.name() == loc.stage && !s.state().empty()) stage = &s;  // newest last
  }
  if (verb == StageVerb::kApprove) {
    ctx.out() << "approved " << loc.ToString();
    if (stage != nullptr && stage->approvals_required() > 1 &&
        stage->state() == "awaiting_approval") {
      // A quorum not yet reached: say how far it is.
      ctx.out() << " (" << stage->approvals_size() << " of " << stage->approvals_required()
                << " approvals; the stage waits for more)";
    } else if (stage != nullptr) {
      ctx.out() << " (stage " << stage->state() << ")";
    }
    ctx.out() << "\n";
    return kExitOk;
  }
  if (verb == StageVerb::kRerun) {
    ctx.out() << "re-running " << loc.ToString();
    if (stage != nullptr) {
      ctx.out() << " as attempt " << stage->counter() << " (stage " << stage->state();
      int copied = 0;
      for (const v1::JobRun& j : stage->jobs()) copied += j.copied_from_attempt() != 0;
      if (copied > 0) ctx.out() << "; " << copied << " passed job(s) kept, not run again";
      if (stage->config_revision() != 0) {
        ctx.out() << "; under config revision " << stage->config_revision();
      }
      ctx.out() << ")";
    }
    ctx.out() << "\n";
    return kExitOk;
  }
  int stopping = 0;
  if (stage != nullptr) {
    for (const v1::JobRun& j : stage->jobs()) {
      stopping += j.state() == "assigned" || j.state() == "running";
    }
  }
  if (stopping > 0) {
    ctx.out() << "cancelling " << loc.ToString() << ": " << stopping
              << " running job(s) told to stop\n";
  } else {
    ctx.out() << "cancelled " << loc.ToString() << "\n";
  }
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
    return conn->Check(conn->stub().GetJobLog(context.get(), request, response));
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
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(ctx.options().poll_interval));
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
  auto comment = std::make_shared<std::string>();
  CLI::App* approve = stage->add_subcommand("approve", "Approve a stage waiting at a manual gate");
  approve->add_option("STAGE", *locator, "PIPELINE/COUNTER/STAGE")->required();
  approve->add_option("--comment", *comment,
                      "Why, recorded with the approval and shown by "
                      "'pipeline show' (one line)");
  approve->callback([action, locator, comment] {
    *action = [locator, comment](CommandContext& ctx) {
      return ActOnStage(ctx, *locator, StageVerb::kApprove, *comment);
    };
  });

  CLI::App* cancel =
      stage->add_subcommand("cancel",
                            "Cancel a stage's newest attempt: jobs not yet started end at once, "
                            "running ones are stopped by their agents");
  cancel->add_option("STAGE", *locator, "PIPELINE/COUNTER/STAGE")->required();
  cancel->callback([action, locator] {
    *action = [locator](CommandContext& ctx) {
      return ActOnStage(ctx, *locator, StageVerb::kCancel);
    };
  });

  CLI::App* rerun = stage->add_subcommand(
      "rerun",
      "Run a stage of a run again as a new attempt, with the run's own config "
      "revision, materials and variables; only that stage runs unless --and-following");
  rerun->add_option("STAGE", *locator, "PIPELINE/COUNTER/STAGE")->required();
  auto flags = std::make_shared<RerunFlags>();
  rerun->add_flag("--and-following", flags->and_following,
                  "Then run the later stages too, as their approvals say");
  rerun->add_flag("--with-current-config", flags->with_current_config,
                  "Use today's config instead of the run's own revision (prints the "
                  "difference first)");
  rerun->add_flag("--failed-jobs", flags->failed_jobs,
                  "Run only the jobs that did not pass; the passed ones keep their result, "
                  "console and artifacts");
  rerun->callback([action, locator, flags] {
    *action = [locator, flags](CommandContext& ctx) {
      return ActOnStage(ctx, *locator, StageVerb::kRerun, "", *flags);
    };
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
  log->add_flag("-f,--follow", flags->follow, "Keep printing until the job has finished");
  log->callback(
      [action, flags] { *action = [flags](CommandContext& ctx) { return Log(ctx, *flags); }; });
}

}  // namespace gantry::cli
