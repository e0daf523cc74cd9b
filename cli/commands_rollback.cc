// gantry rollback ENV [--to P/N] --reason TEXT, and gantry version list|clear:
// the typed way back from a bad release and the marks it leaves
// (docs/rollback.md).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/format.h"
#include "common/locator.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::StatusOr<Locator> RunLocator(const std::string& text) {
  ASSIGN_OR_RETURN(Locator loc, ParseLocator(text, LocatorKind::kPipelineRun));
  return loc;
}

std::string Upstream(const google::protobuf::RepeatedPtrField<v1::DeployedMaterial>& materials) {
  std::vector<std::string> parts;
  for (const v1::DeployedMaterial& m : materials) {
    if (!m.upstream_pipeline().empty()) {
      parts.push_back(absl::StrCat(m.upstream_pipeline(), "/", m.upstream_counter()));
    } else {
      parts.push_back(absl::StrCat(m.material(), "@", m.revision().substr(0, 12)));
    }
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

absl::StatusOr<int> Rollback(CommandContext& ctx, const std::string& env, const std::string& to,
                             const std::string& reason) {
  RETURN_IF_ERROR(RequireUtf8(env, "environment"));
  RETURN_IF_ERROR(RequireUtf8(reason, "--reason"));
  v1::RollbackRequest request;
  request.set_environment(env);
  request.set_reason(reason);
  if (!to.empty()) {
    ASSIGN_OR_RETURN(Locator loc, RunLocator(to));
    request.set_to_pipeline(loc.pipeline);
    request.set_to_counter(loc.counter);
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::RollbackResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().Rollback(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  const v1::Deployment& from = response.from();
  const v1::Deployment& back = response.to();
  int32_t attempt = 0;
  for (const v1::StageRun& s : response.run().stages()) {
    if (s.name() == back.stage()) attempt = s.counter();  // newest last
  }
  ctx.out() << "rolling back " << env << ": " << from.pipeline() << "/" << from.counter() << " ("
            << Upstream(from.materials()) << ") -> " << back.pipeline() << "/" << back.counter()
            << " (" << Upstream(back.materials()) << ")\n";
  ctx.out() << "re-running " << back.pipeline() << "/" << back.counter() << "/" << back.stage()
            << " as attempt " << attempt << "; " << from.pipeline() << "/" << from.counter()
            << " is marked bad in " << env << " (`gantry version clear " << env << " "
            << from.pipeline() << "/" << from.counter() << "` lifts it)\n";
  return kExitOk;
}

absl::StatusOr<int> ListVersions(CommandContext& ctx, const std::string& env, bool all) {
  RETURN_IF_ERROR(RequireUtf8(env, "environment"));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListBadVersionsRequest request;
  request.set_environment(env);
  request.set_include_cleared(all);
  v1::ListBadVersionsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListBadVersions(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.versions().empty()) {
    ctx.out() << "no version is marked bad" << (env.empty() ? "" : " in " + env) << "\n";
    return kExitOk;
  }
  std::vector<std::string> header = {"ENVIRONMENT", "RUN", "LABEL", "UPSTREAM",
                                     "MARKED",      "BY",  "REASON"};
  if (all) header.push_back("CLEARED");
  Table table(header);
  for (const v1::BadVersion& v : response.versions()) {
    std::vector<std::string> row = {v.environment(),
                                    absl::StrCat(v.pipeline(), "/", v.counter()),
                                    v.label(),
                                    Upstream(v.materials()),
                                    FormatTimestamp(v.marked_at(), ctx.time_zone()),
                                    v.marked_by(),
                                    v.reason()};
    if (all) {
      row.push_back(v.cleared_by().empty()
                        ? "-"
                        : absl::StrCat(FormatTimestamp(v.cleared_at(), ctx.time_zone()), " by ",
                                       v.cleared_by()));
    }
    table.AddRow(row);
  }
  table.Print(ctx.out());
  return kExitOk;
}

absl::StatusOr<int> ClearVersion(CommandContext& ctx, const std::string& env,
                                 const std::string& run, const std::string& reason) {
  RETURN_IF_ERROR(RequireUtf8(env, "environment"));
  RETURN_IF_ERROR(RequireUtf8(reason, "--reason"));
  ASSIGN_OR_RETURN(Locator loc, RunLocator(run));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ClearBadVersionRequest request;
  request.set_environment(env);
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  request.set_reason(reason);
  v1::ListBadVersionsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ClearBadVersion(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  for (const v1::BadVersion& v : response.versions()) {
    ctx.out() << "cleared the mark on " << v.pipeline() << "/" << v.counter() << " ("
              << Upstream(v.materials()) << ") in " << v.environment() << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddRollbackCommands(CLI::App& app, Action* action) {
  auto env = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* rollback = app.add_subcommand(
      "rollback",
      "Redeploy the last good version into an environment (or --to a run): re-runs that run's "
      "deploy stage with its own config, materials and artifacts, and marks the version "
      "replaced as bad there");
  rollback->add_option("ENV", *env, "Environment name")->required();
  rollback->add_option("--to", *to, "The run to go back to, PIPELINE/COUNTER");
  rollback->add_option("--reason", *reason, "Why (recorded with the rollback)")->required();
  rollback->callback([action, env, to, reason] {
    *action = [env, to, reason](CommandContext& ctx) { return Rollback(ctx, *env, *to, *reason); };
  });

  CLI::App* version =
      app.add_subcommand("version", "Versions marked bad in environments by rollbacks");
  version->require_subcommand(1);
  auto list_env = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* list = version->add_subcommand("list", "Versions marked bad, newest first");
  list->add_option("ENV", *list_env, "Only this environment");
  list->add_flag("--all", *all, "Include cleared marks");
  list->callback([action, list_env, all] {
    *action = [list_env, all](CommandContext& ctx) { return ListVersions(ctx, *list_env, *all); };
  });
  auto clear_env = std::make_shared<std::string>();
  auto clear_run = std::make_shared<std::string>();
  auto clear_reason = std::make_shared<std::string>();
  CLI::App* clear = version->add_subcommand(
      "clear",
      "Lift a bad mark: RUN is the marked run or one of its upstream runs (e.g. build/12)");
  clear->add_option("ENV", *clear_env, "Environment name")->required();
  clear->add_option("RUN", *clear_run, "PIPELINE/COUNTER")->required();
  clear->add_option("--reason", *clear_reason, "Why (recorded)");
  clear->callback([action, clear_env, clear_run, clear_reason] {
    *action = [clear_env, clear_run, clear_reason](CommandContext& ctx) {
      return ClearVersion(ctx, *clear_env, *clear_run, *clear_reason);
    };
  });
}

}  // namespace gantry::cli
