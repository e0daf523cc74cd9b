// gantry env show ENV: an environment's pipelines and its deploy lock (who
// holds it, who waits, in the order they will go).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

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

}  // namespace

void AddEnvCommands(CLI::App& app, Action* action) {
  CLI::App* env = app.add_subcommand("env", "Show environments");
  env->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  CLI::App* show = env->add_subcommand(
      "show", "An environment's pipelines and deploy lock: who holds it and who waits");
  show->add_option("ENV", *name, "Environment name")->required();
  show->callback([action, name] {
    *action = [name](CommandContext& ctx) { return ShowEnvironment(ctx, *name); };
  });
}

}  // namespace gantry::cli
