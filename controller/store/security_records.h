// Rows of agents' certificates (migration 0016) and of the stored values a
// cipher key rotation re-encrypts (tx_security.cc).
#pragma once

#include <cstdint>
#include <string>

namespace gantry::store {

struct AgentCertificateRecord {
  std::string serial;  // lower-case hex
  std::string agent_id;
  std::string fingerprint;
  int64_t not_after_ms = 0;
  std::string revoked_reason;  // "" while valid
  // Read only: the agent's state now ("" once the agent was deleted).
  std::string agent_state;
};

// A stored text that holds at least one ciphertext, by where it lives.
struct EncryptedText {
  enum class Kind { kConfigFile, kConfigDiff, kRunVariable };
  Kind kind = Kind::kConfigFile;
  int64_t id = 0;        // revision, or the run variable's run id
  int32_t position = 0;  // the file's or the variable's position
  std::string text;
};

}  // namespace gantry::store
