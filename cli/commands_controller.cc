// gantry controller status: every controller of --controller (a list, or a
// name with several addresses) asked which one leads (GetLeader, answered
// without a token), so an operator or a health check sees the leader, the
// standbys and the lease's epoch at a glance. Exits 1 when none leads.
#include <google/protobuf/struct.pb.h>

#include <CLI/CLI.hpp>
#include <iomanip>
#include <string>
#include <vector>

#include "cli/command.h"
#include "common/controller_targets.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

struct Answer {
  std::string controller;
  grpc::Status status;
  v1::LeaderInfo info;
};

Answer Ask(const ControllerTarget& target, const ConnectionSettings& settings) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto stub = v1::OperatorService::NewStub(
      DialController(target, {.insecure = settings.insecure, .ca_pem = settings.ca_pem}, args));
  Answer answer{target.Label(), grpc::Status::OK, {}};
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kLeaderProbeTimeout));
  answer.status = stub->GetLeader(&context, v1::GetLeaderRequest(), &answer.info);
  return answer;
}

absl::StatusOr<int> Status(CommandContext& ctx) {
  ASSIGN_OR_RETURN(ConnectionSettings settings, ctx.connection_settings());
  std::vector<Answer> answers;
  bool led = false;
  for (const ControllerTarget& target : settings.targets) {
    answers.push_back(Ask(target, settings));
    led |= answers.back().status.ok() && answers.back().info.leader();
  }
  if (ctx.json()) {
    google::protobuf::Struct out;
    auto* list = (*out.mutable_fields())["controllers"].mutable_list_value();
    for (const Answer& a : answers) {
      auto* fields = list->add_values()->mutable_struct_value()->mutable_fields();
      (*fields)["controller"].set_string_value(a.controller);
      (*fields)["reachable"].set_bool_value(a.status.ok());
      if (!a.status.ok()) {
        (*fields)["error"].set_string_value(a.status.error_message());
        continue;
      }
      (*fields)["leader"].set_bool_value(a.info.leader());
      (*fields)["epoch"].set_number_value(static_cast<double>(a.info.epoch()));
      (*fields)["leader_address"].set_string_value(a.info.leader_address());
    }
    RETURN_IF_ERROR(ctx.PrintJson(out));
    return led ? kExitOk : kExitFailure;
  }
  ctx.out() << std::left << std::setw(28) << "CONTROLLER" << std::setw(10) << "ROLE" << std::setw(7)
            << "EPOCH"
            << "LEADER\n";
  for (const Answer& a : answers) {
    ctx.out() << std::setw(28) << a.controller;
    if (!a.status.ok()) {
      ctx.out() << "unreachable: " << a.status.error_message() << "\n";
      continue;
    }
    ctx.out() << std::setw(10) << (a.info.leader() ? "leader" : "standby") << std::setw(7)
              << a.info.epoch() << (a.info.leader_address().empty() ? "-" : a.info.leader_address())
              << "\n";
  }
  if (!led) ctx.err() << "no controller of " << settings.address << " leads\n";
  return led ? kExitOk : kExitFailure;
}

}  // namespace

void AddControllerCommands(CLI::App& app, Action* action) {
  CLI::App* controller = app.add_subcommand("controller", "The controllers themselves");
  controller->require_subcommand(1);
  CLI::App* status = controller->add_subcommand(
      "status",
      "Ask each controller of --controller which one leads (no token needed); exit 1 when "
      "none does");
  status->callback([action] { *action = [](CommandContext& ctx) { return Status(ctx); }; });
}

}  // namespace gantry::cli
