// gantry agent list|approve|enable|disable|set|delete; the agent-key
// commands are in commands_agent_key.cc.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<int> List(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListAgentsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(
      conn->Check(conn->stub().ListAgents(context.get(), v1::ListAgentsRequest(), &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"NAME", "ID", "STATUS", "BUILDING", "RESOURCES", "ENVIRONMENTS", "LAST-CONTACT"});
  absl::Time now = ctx.Now();
  for (const v1::Agent& agent : response.agents()) {
    table.AddRow({agent.name().empty() ? agent.hostname() : agent.name(), agent.id(),
                  agent.status().empty() ? "-" : agent.status(),
                  agent.building().empty() ? "-" : agent.building(),
                  JoinOr(ToVector(agent.resources())), JoinOr(ToVector(agent.environments())),
                  FormatAge(agent.last_contact(), now)});
  }
  table.Print(ctx.out());
  return kExitOk;
}

// Prints "agent NAME (ID) DONE, now STATUS", or the Agent as JSON.
absl::StatusOr<int> PrintAgent(CommandContext& ctx, const v1::Agent& agent,
                               const std::string& agent_ref, const std::string& done) {
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(agent));
    return kExitOk;
  }
  ctx.out() << "agent " << (agent.name().empty() ? agent_ref : agent.name());
  if (!agent.id().empty() && agent.id() != agent.name()) {
    ctx.out() << " (" << agent.id() << ")";
  }
  ctx.out() << " " << done;
  if (!agent.status().empty()) ctx.out() << ", now " << agent.status();
  ctx.out() << "\n";
  return kExitOk;
}

absl::StatusOr<int> Update(CommandContext& ctx, const std::string& verb,
                           const std::string& agent_ref) {
  if (agent_ref.empty()) {
    return absl::InvalidArgumentError("agent id or name must not be empty");
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::UpdateAgentRequest request;
  request.set_agent(agent_ref);
  request.set_action(verb);
  v1::Agent agent;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().UpdateAgent(context.get(), request, &agent)));
  const char* done = verb == "approve" ? "approved" : verb == "enable" ? "enabled" : "disabled";
  return PrintAgent(ctx, agent, agent_ref, done);
}

// `--environments a,b` as CLI11 gives it: empty items (from "") dropped, so
// `--environments ''` assigns none.
v1::StringList ListOf(const std::vector<std::string>& items) {
  v1::StringList out;
  for (const auto& item : items) {
    if (!item.empty()) out.add_values(item);
  }
  return out;
}

struct SetFlags {
  std::string agent;
  std::vector<std::string> resources;
  std::vector<std::string> environments;
  bool resources_given = false;
  bool environments_given = false;
  bool reset_resources = false;
  bool reset_environments = false;
};

absl::StatusOr<int> Set(CommandContext& ctx, const SetFlags& flags) {
  if (!flags.resources_given && !flags.environments_given && !flags.reset_resources &&
      !flags.reset_environments) {
    return absl::InvalidArgumentError(
        "nothing to set: give --resources, --environments, --reset-resources or "
        "--reset-environments");
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::SetAgentRequest request;
  request.set_agent(flags.agent);
  if (flags.resources_given) *request.mutable_resources() = ListOf(flags.resources);
  if (flags.environments_given) *request.mutable_environments() = ListOf(flags.environments);
  request.set_reset_resources(flags.reset_resources);
  request.set_reset_environments(flags.reset_environments);
  v1::Agent agent;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().SetAgent(context.get(), request, &agent)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(agent));
    return kExitOk;
  }
  ctx.out() << "agent " << agent.name() << ": resources "
            << JoinOr(ToVector(agent.resources()), "none") << "; environments "
            << JoinOr(ToVector(agent.environments()), "none") << "\n";
  return kExitOk;
}

absl::StatusOr<int> Delete(CommandContext& ctx, const std::string& agent_ref) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::DeleteAgentRequest request;
  request.set_agent(agent_ref);
  v1::Agent agent;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().DeleteAgent(context.get(), request, &agent)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(agent));
    return kExitOk;
  }
  ctx.out() << "agent " << agent.name() << " (" << agent.id() << ") deleted\n";
  return kExitOk;
}

void AddSetCommand(CLI::App* agent, Action* action) {
  auto flags = std::make_shared<SetFlags>();
  CLI::App* set =
      agent->add_subcommand("set", "Assign an agent's resources and/or environments (admins)");
  set->add_option("AGENT", flags->agent, "Agent id or name")->required();
  CLI::Option* resources =
      set->add_option("--resources", flags->resources,
                      "Comma-separated; in effect whatever the agent asks for ('' = none)")
          ->delimiter(',')
          ->allow_extra_args(false);
  CLI::Option* environments =
      set->add_option("--environments", flags->environments,
                      "Comma-separated; in effect whatever the agent asks for ('' = none)")
          ->delimiter(',')
          ->allow_extra_args(false);
  set->add_flag("--reset-resources", flags->reset_resources,
                "Back to what the agent asks for, within its register key's scope")
      ->excludes(resources);
  set->add_flag("--reset-environments", flags->reset_environments,
                "Back to what the agent asks for, within its register key's scope")
      ->excludes(environments);
  set->callback([action, flags, resources, environments] {
    flags->resources_given = resources->count() > 0;
    flags->environments_given = environments->count() > 0;
    *action = [flags](CommandContext& ctx) { return Set(ctx, *flags); };
  });
}

}  // namespace

void AddAgentKeyCommands(CLI::App& app, Action* action);

void AddAgentCommands(CLI::App& app, Action* action) {
  CLI::App* agent = app.add_subcommand("agent", "List and manage agents");
  agent->require_subcommand(1);

  CLI::App* list = agent->add_subcommand("list", "List agents");
  list->callback([action] { *action = [](CommandContext& ctx) { return List(ctx); }; });

  for (const char* verb : {"approve", "enable", "disable"}) {
    std::string description = std::string(verb) == "approve"  ? "Approve a pending agent"
                              : std::string(verb) == "enable" ? "Let an agent take jobs again"
                                                              : "Stop giving an agent jobs";
    auto ref = std::make_shared<std::string>();
    CLI::App* sub = agent->add_subcommand(verb, description);
    sub->add_option("AGENT", *ref, "Agent id or name")->required();
    std::string verb_name = verb;
    sub->callback([action, ref, verb_name] {
      *action = [ref, verb_name](CommandContext& ctx) { return Update(ctx, verb_name, *ref); };
    });
  }
  AddSetCommand(agent, action);

  auto deleted = std::make_shared<std::string>();
  CLI::App* del = agent->add_subcommand(
      "delete", "Forget an agent, so its name is free and it can register again (admins)");
  del->add_option("AGENT", *deleted, "Agent id or name")->required();
  del->callback([action, deleted] {
    *action = [deleted](CommandContext& ctx) { return Delete(ctx, *deleted); };
  });

  AddAgentKeyCommands(app, action);
}

}  // namespace gantry::cli
