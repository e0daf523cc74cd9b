// The agent's identity: what Register returned, kept in DIR/agent.json so a
// restarted agent reconnects as the same agent instead of registering again.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gantry::agent {

struct AgentIdentity {
  std::string agent_id;
  // Secret: never logged. The controller keeps only its hash.
  std::string token;
  std::string name;
};

// Reads `path` (JSON: {"agent_id", "token", "name"}). NotFound if the file
// does not exist; FailedPrecondition if it is unreadable or malformed.
absl::StatusOr<AgentIdentity> LoadIdentity(const std::string& path);

// Writes `path` atomically with mode 0600.
absl::Status SaveIdentity(const std::string& path,
                          const AgentIdentity& identity);

}  // namespace gantry::agent
