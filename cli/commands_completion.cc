// gantry completion bash|zsh: the shell's completion script (the candidates
// themselves come from `gantry __complete`, cli/completion.cc).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/completion.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {

namespace v1 = gantry::v1;

absl::StatusOr<std::vector<std::string>> ControllerNames(CommandContext& ctx, NameKind kind) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  auto context = conn->NewContext();
  std::vector<std::string> names;
  switch (kind) {
    case NameKind::kPipeline: {
      v1::ListPipelinesResponse response;
      RETURN_IF_ERROR(conn->Check(
          conn->stub().ListPipelines(context.get(), v1::ListPipelinesRequest(), &response)));
      for (const v1::PipelineSummary& p : response.pipelines()) names.push_back(p.name());
      break;
    }
    case NameKind::kEnvironment: {
      v1::ListDeployedEnvironmentsResponse response;
      RETURN_IF_ERROR(conn->Check(conn->stub().ListDeployedEnvironments(
          context.get(), v1::ListDeployedEnvironmentsRequest(), &response)));
      for (const v1::DeployedEnvironment& e : response.environments()) names.push_back(e.name());
      break;
    }
    case NameKind::kAgent: {
      v1::ListAgentsResponse response;
      RETURN_IF_ERROR(
          conn->Check(conn->stub().ListAgents(context.get(), v1::ListAgentsRequest(), &response)));
      for (const v1::Agent& a : response.agents()) names.push_back(a.name());
      break;
    }
  }
  return names;
}

void AddCompletionCommand(CLI::App& app, Action* action) {
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "Print the shell completion script: source <(gantry completion bash), or zsh");
  completion->add_option("SHELL", *shell, "bash or zsh")->required();
  completion->callback([action, shell] {
    *action = [shell](CommandContext& ctx) -> absl::StatusOr<int> {
      ASSIGN_OR_RETURN(std::string script, CompletionScript(*shell));
      ctx.out() << script;
      return kExitOk;
    };
  });
}

}  // namespace gantry::cli
