// gantry agent list|approve|enable|disable.
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

std::vector<std::string> ToVector(
    const google::protobuf::RepeatedPtrField<std::string>& items) {
  return std::vector<std::string>(items.begin(), items.end());
}

absl::StatusOr<int> List(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListAgentsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListAgents(
      context.get(), v1::ListAgentsRequest(), &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  Table table({"NAME", "ID", "STATUS", "BUILDING", "RESOURCES", "ENVIRONMENTS",
               "LAST-CONTACT"});
  absl::Time now = ctx.Now();
  for (const v1::Agent& agent : response.agents()) {
    table.AddRow({agent.name().empty() ? agent.hostname() : agent.name(),
                  agent.id(), agent.status().empty() ? "-" : agent.status(),
                  agent.building().empty() ? "-" : agent.building(),
                  JoinOr(ToVector(agent.resources())),
                  JoinOr(ToVector(agent.environments())),
                  FormatAge(agent.last_contact(), now)});
  }
  table.Print(ctx.out());
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
  RETURN_IF_ERROR(
      conn->Check(conn->stub().UpdateAgent(context.get(), request, &agent)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(agent));
    return kExitOk;
  }
  const char* done = verb == "approve"  ? "approved"
                     : verb == "enable" ? "enabled"
                                        : "disabled";
  ctx.out() << "agent " << (agent.name().empty() ? agent_ref : agent.name());
  if (!agent.id().empty() && agent.id() != agent.name()) {
    ctx.out() << " (" << agent.id() << ")";
  }
  ctx.out() << " " << done;
  if (!agent.status().empty()) ctx.out() << ", now " << agent.status();
  ctx.out() << "\n";
  return kExitOk;
}

}  // namespace

void AddAgentCommands(CLI::App& app, Action* action) {
  CLI::App* agent = app.add_subcommand("agent", "List and manage agents");
  agent->require_subcommand(1);

  CLI::App* list = agent->add_subcommand("list", "List agents");
  list->callback(
      [action] { *action = [](CommandContext& ctx) { return List(ctx); }; });

  for (const char* verb : {"approve", "enable", "disable"}) {
    std::string description =
        std::string(verb) == "approve"  ? "Approve a pending agent"
        : std::string(verb) == "enable" ? "Let an agent take jobs again"
                                        : "Stop giving an agent jobs";
    auto ref = std::make_shared<std::string>();
    CLI::App* sub = agent->add_subcommand(verb, description);
    sub->add_option("AGENT", *ref, "Agent id or name")->required();
    std::string verb_name = verb;
    sub->callback([action, ref, verb_name] {
      *action = [ref, verb_name](CommandContext& ctx) {
        return Update(ctx, verb_name, *ref);
      };
    });
  }
}

}  // namespace gantry::cli
