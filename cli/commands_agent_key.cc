// gantry agent-key create|list|revoke: scoped register keys (admins).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/format.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return std::vector<std::string>(items.begin(), items.end());
}

struct CreateFlags {
  std::string name;
  std::vector<std::string> resources;
  std::vector<std::string> environments;
};

absl::StatusOr<int> Create(CommandContext& ctx, const CreateFlags& flags) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::CreateAgentKeyRequest request;
  request.set_name(flags.name);
  for (const auto& r : flags.resources) {
    if (!r.empty()) request.add_resources(r);
  }
  for (const auto& e : flags.environments) {
    if (!e.empty()) request.add_environments(e);
  }
  v1::CreateAgentKeyResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().CreateAgentKey(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  // The key alone on stdout, so `gantry agent-key create > key` works; the
  // rest on stderr.
  ctx.out() << response.key() << "\n";
  ctx.err() << "register key " << response.info().name() << " (" << response.info().id()
            << ") created: resources " << JoinOr(ToVector(response.info().resources()), "none")
            << "; environments " << JoinOr(ToVector(response.info().environments()), "none")
            << ". It is shown this once; give it to agents with --register-key-file.\n";
  return kExitOk;
}

absl::StatusOr<int> List(CommandContext& ctx, bool all) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListAgentKeysRequest request;
  request.set_all(all);
  v1::ListAgentKeysResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListAgentKeys(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"ID", "NAME", "RESOURCES", "ENVIRONMENTS", "CREATED-BY", "CREATED", "REVOKED"});
  for (const v1::AgentKey& k : response.keys()) {
    table.AddRow({std::to_string(k.id()), k.name(), JoinOr(ToVector(k.resources()), "none"),
                  JoinOr(ToVector(k.environments()), "none"), k.created_by(),
                  FormatTimestamp(k.created_at(), ctx.time_zone()),
                  IsSet(k.revoked_at())
                      ? FormatTimestamp(k.revoked_at(), ctx.time_zone()) + " by " + k.revoked_by()
                      : "-"});
  }
  table.Print(ctx.out());
  return kExitOk;
}

absl::StatusOr<int> Revoke(CommandContext& ctx, const std::string& key) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::RevokeAgentKeyRequest request;
  request.set_key(key);
  v1::AgentKey revoked;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().RevokeAgentKey(context.get(), request, &revoked)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(revoked));
    return kExitOk;
  }
  ctx.out() << "register key " << revoked.name() << " (" << revoked.id() << ") revoked\n";
  return kExitOk;
}

}  // namespace

void AddAgentKeyCommands(CLI::App& app, Action* action) {
  CLI::App* keys = app.add_subcommand("agent-key", "Manage scoped agent register keys (admins)");
  keys->require_subcommand(1);

  auto create_flags = std::make_shared<CreateFlags>();
  CLI::App* create = keys->add_subcommand("create", "Create a register key; prints it once");
  create->add_option("--name", create_flags->name, "Key name (default: key-ID)");
  create
      ->add_option("--resources", create_flags->resources,
                   "Comma-separated resources its agents may claim ('*': any)")
      ->delimiter(',')
      ->allow_extra_args(false);
  create
      ->add_option("--environments", create_flags->environments,
                   "Comma-separated environments its agents may join ('*': any)")
      ->delimiter(',')
      ->allow_extra_args(false);
  create->callback([action, create_flags] {
    *action = [create_flags](CommandContext& ctx) { return Create(ctx, *create_flags); };
  });

  auto all = std::make_shared<bool>(false);
  CLI::App* list = keys->add_subcommand("list", "List register keys");
  list->add_flag("--all", *all, "Revoked keys too");
  list->callback(
      [action, all] { *action = [all](CommandContext& ctx) { return List(ctx, *all); }; });

  auto key = std::make_shared<std::string>();
  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a register key");
  revoke->add_option("KEY", *key, "Key id or name")->required();
  revoke->callback(
      [action, key] { *action = [key](CommandContext& ctx) { return Revoke(ctx, *key); }; });
}

}  // namespace gantry::cli
