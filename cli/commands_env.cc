// gantry env show ENV: an environment's pipelines and its deploy lock (who
// holds it, who waits, in the order they will go). gantry env list and env
// history ENV: what is deployed where (docs/rollback.md defines a deploy).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/format.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::StatusOr<int> ShowEnvironment(CommandContext& ctx, const std::string& name) {
  RETURN_IF_ERROR(RequireUtf8(name, "environment"));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::GetEnvironmentRequest request;
  request.set_name(name);
  v1::EnvironmentView env;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().GetEnvironment(context.get(), request, &env)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(env));
    return kExitOk;
  }
  std::ostream& out = ctx.out();
  out << "environment " << env.name() << "\n";
  out << "pipelines: " << (env.pipelines().empty() ? "-" : absl::StrJoin(env.pipelines(), ", "))
      << "\n";
  if (!env.lock()) {
    out << "deploy lock: off\n";
    return kExitOk;
  }
  out << "deploy lock: " << (env.holder().empty() ? "free" : "held by " + env.holder()) << "\n";
  if (env.queue().empty()) {
    out << "queue: empty\n";
    return kExitOk;
  }
  out << "queue:\n";
  Table table({"#", "RUN", "STAGE", "WAITING SINCE"});
  int position = 0;
  for (const v1::EnvLockWaiter& w : env.queue()) {
    table.AddRow({absl::StrCat(++position), absl::StrCat(w.pipeline(), "/", w.counter()), w.stage(),
                  FormatTimestamp(w.since(), ctx.time_zone())});
  }
  table.Print(out, 2);
  return kExitOk;
}

// "build/13 (1.13)" for an upstream run, "repo@0123456789ab" for git.
std::string Materials(const v1::Deployment& d) {
  std::vector<std::string> parts;
  for (const v1::DeployedMaterial& m : d.materials()) {
    if (!m.upstream_pipeline().empty()) {
      parts.push_back(absl::StrCat(m.upstream_pipeline(), "/", m.upstream_counter(), " (",
                                   m.upstream_label(), ")"));
    } else {
      parts.push_back(absl::StrCat(m.material(), "@", m.revision().substr(0, 12)));
    }
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

std::string Approvers(const v1::Deployment& d) {
  std::vector<std::string> users;
  for (const v1::StageApproval& a : d.approvals()) users.push_back(a.user());
  return users.empty() ? "-" : absl::StrJoin(users, ", ");
}

// "deploy" or "deploy (attempt 2)": a re-run shows which attempt it was.
std::string StageText(const v1::Deployment& d) {
  if (d.stage_counter() <= 1) return d.stage();
  return absl::StrCat(d.stage(), " (attempt ", d.stage_counter(), ")");
}

// A rollback says what it replaced, by whom and why; a version a rollback
// took out says so.
std::string Note(const v1::Deployment& d) {
  std::vector<std::string> notes;
  if (d.has_rollback()) {
    const v1::RollbackInfo& r = d.rollback();
    notes.push_back(absl::StrCat("rolled back from ", r.from_pipeline(), "/", r.from_counter(),
                                 " by ", r.by(), ": ", r.reason()));
  }
  if (d.marked_bad()) notes.push_back("marked bad");
  return notes.empty() ? "-" : absl::StrJoin(notes, "; ");
}

absl::StatusOr<int> ListEnvironments(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListDeployedEnvironmentsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListDeployedEnvironments(
      context.get(), v1::ListDeployedEnvironmentsRequest(), &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.environments().empty()) {
    ctx.out() << "no environments\n";
    return kExitOk;
  }
  Table table({"ENVIRONMENT", "RUN", "LABEL", "STAGE", "UPSTREAM", "DEPLOYED", "TRIGGERED BY",
               "APPROVED BY"});
  for (const v1::DeployedEnvironment& env : response.environments()) {
    if (!env.has_current()) {
      table.AddRow({env.name(), "-", "-", "-", "-", "never", "-", "-"});
      continue;
    }
    const v1::Deployment& d = env.current();
    table.AddRow({env.name(), absl::StrCat(d.pipeline(), "/", d.counter()), d.label(), StageText(d),
                  Materials(d), FormatTimestamp(d.at(), ctx.time_zone()), d.triggered_by(),
                  Approvers(d)});
  }
  table.Print(ctx.out());
  return kExitOk;
}

absl::StatusOr<int> EnvironmentHistory(CommandContext& ctx, const std::string& name, int limit) {
  RETURN_IF_ERROR(RequireUtf8(name, "environment"));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::EnvironmentHistoryRequest request;
  request.set_name(name);
  request.set_limit(limit);
  v1::EnvironmentHistoryResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().EnvironmentHistory(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.deployments().empty()) {
    ctx.out() << "nothing deployed into " << response.name() << "\n";
    return kExitOk;
  }
  Table table({"WHEN", "KIND", "RUN", "LABEL", "STAGE", "UPSTREAM", "TRIGGERED BY", "APPROVED BY",
               "NOTE"});
  for (const v1::Deployment& d : response.deployments()) {
    table.AddRow({FormatTimestamp(d.at(), ctx.time_zone()), d.kind(),
                  absl::StrCat(d.pipeline(), "/", d.counter()), d.label(), StageText(d),
                  Materials(d), d.triggered_by(), Approvers(d), Note(d)});
  }
  table.Print(ctx.out());
  return kExitOk;
}

}  // namespace

void AddEnvCommands(CLI::App& app, Action* action) {
  CLI::App* env = app.add_subcommand("env", "Show environments and what is deployed where");
  env->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  CLI::App* show = env->add_subcommand(
      "show", "An environment's pipelines and deploy lock: who holds it and who waits");
  show->add_option("ENV", *name, "Environment name")->required();
  show->callback([action, name] {
    *action = [name](CommandContext& ctx) { return ShowEnvironment(ctx, *name); };
  });

  CLI::App* list = env->add_subcommand(
      "list",
      "Each environment with the version deployed into it now, who triggered and approved it");
  list->callback([action] { *action = [](CommandContext& ctx) { return ListEnvironments(ctx); }; });

  auto history_name = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(100);
  CLI::App* history = env->add_subcommand(
      "history", "Every deploy into an environment, newest first; re-runs marked");
  history->add_option("ENV", *history_name, "Environment name")->required();
  history->add_option("--limit", *limit, "At most this many (100)")->check(CLI::Range(1, 10000));
  history->callback([action, history_name, limit] {
    *action = [history_name, limit](CommandContext& ctx) {
      return EnvironmentHistory(ctx, *history_name, *limit);
    };
  });
}

}  // namespace gantry::cli
