// gantry material notify --url URL: the controller fetches every git
// material with that URL now (docs/materials.md), as a push webhook would.
#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <string>

#include "cli/command.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::StatusOr<int> Notify(CommandContext& ctx, const std::string& url) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::NotifyMaterialRequest request;
  request.set_url(url);
  v1::NotifyMaterialResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().NotifyMaterial(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  ctx.out() << "fetching " << response.materials() << " material"
            << (response.materials() == 1 ? "" : "s") << " now\n";
  return kExitOk;
}

}  // namespace

void AddMaterialCommands(CLI::App& app, Action* action) {
  CLI::App* material = app.add_subcommand("material", "Git materials");
  material->require_subcommand(1);
  auto url = std::make_shared<std::string>();
  CLI::App* notify = material->add_subcommand(
      "notify", "Make the controller fetch every git material with this URL now");
  notify->add_option("--url", *url, "The repository URL, as in the config")->required();
  notify->callback(
      [action, url] { *action = [url](CommandContext& ctx) { return Notify(ctx, *url); }; });
}

}  // namespace gantry::cli
