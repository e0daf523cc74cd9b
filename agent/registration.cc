#include "agent/registration.h"

#include <grpcpp/client_context.h>

#include "common/grpc_status.h"

namespace gantry::agent {

absl::StatusOr<Registration> RegisterAgent(
    gantry::v1::AgentService::StubInterface& stub,
    const RegistrationRequest& request, absl::Duration timeout) {
  if (request.register_key.empty()) {
    return absl::FailedPreconditionError(
        "this agent has no identity yet and no register key to get one "
        "(--register-key-file)");
  }
  gantry::v1::RegisterRequest req;
  req.set_register_key(request.register_key);
  req.set_name(request.name);
  req.set_hostname(request.hostname);
  for (const auto& r : request.resources) req.add_resources(r);
  for (const auto& e : request.environments) req.add_environments(e);
  req.set_csr(request.csr);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  gantry::v1::RegisterResponse resp;
  grpc::Status status = stub.Register(&context, req, &resp);
  if (!status.ok()) return FromGrpcStatus(status);
  if (resp.agent_id().empty() || resp.token().empty()) {
    return absl::InternalError("controller returned no agent id or token");
  }
  Registration out;
  out.identity.agent_id = resp.agent_id();
  out.identity.token = resp.token();
  out.identity.name = request.name;
  out.state = resp.state();
  out.refused_resources = resp.refused_resources();
  out.refused_environments = resp.refused_environments();
  out.certificate = resp.certificate();
  return out;
}

}  // namespace gantry::agent
