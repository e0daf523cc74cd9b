// One call of AgentService.Register: exchanges the auto-register key for an
// agent id and token. Retrying (the controller may not be up yet) is the
// caller's business; see Session.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/identity.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::agent {

struct RegistrationRequest {
  std::string register_key;
  std::string name;
  std::string hostname;
  std::vector<std::string> resources;
  std::vector<std::string> environments;
  // PEM CSR for the agent's own key ("" when talking plaintext).
  std::string csr;
};

struct Registration {
  AgentIdentity identity;
  // "enabled" or "pending" (an admin must approve the agent).
  std::string state;
  // What the controller dropped of the requested resources and
  // environments (beyond the register key's scope).
  google::protobuf::RepeatedPtrField<std::string> refused_resources;
  google::protobuf::RepeatedPtrField<std::string> refused_environments;
  // PEM client certificate the controller signed from the CSR ("" without).
  std::string certificate;
};

// Calls Register with `timeout` as the deadline. The gRPC status comes back
// as an absl::Status with the same code (UNAVAILABLE: controller not
// reachable, retry; PERMISSION_DENIED: wrong key).
absl::StatusOr<Registration> RegisterAgent(
    gantry::v1::AgentService::StubInterface& stub,
    const RegistrationRequest& request, absl::Duration timeout);

}  // namespace gantry::agent
