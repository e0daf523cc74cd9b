// gantry-controller's flags: what each one means and the checks made on
// them before anything is written (docs/operations.md lists them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gantry {

struct ControllerFlags {
  std::string data_dir;
  std::string listen = "127.0.0.1:8150";
  std::string database_url;
  std::string log_level = "info";
  std::string pg_user = "postgres";
  std::string agent_lost_timeout_flag = "30s";
  std::string heartbeat_interval_flag = "5s";
  int64_t max_console_mib = 100;
  int64_t max_transport_mib = 256;
  // Agent admission (docs/security.md).
  int max_pending_agents = 100;
  int register_rate_per_source = 10;
  int register_rate_total = 60;
  // Git materials (docs/materials.md).
  std::string material_poll_interval_flag = "60s";
  std::string git_timeout_flag = "2m";
  absl::Duration material_poll_interval;
  absl::Duration git_timeout;
  // Push webhooks' shared secret (docs/materials.md); "" = webhooks refused.
  std::string webhook_secret_file;
  // The HTTP listener (docs/api.md): dashboard, JSON API, /metrics; "" = off.
  std::string http_listen = "127.0.0.1:8153";
  bool http_listen_given = false;
  // Plain HTTP although gRPC has TLS (behind a proxy that terminates TLS):
  // only on a loopback --http-listen, like all plaintext.
  bool http_plaintext = false;
  // TLS (docs/security.md): on unless --insecure.
  std::string tls_cert;
  std::string tls_key;
  std::vector<std::string> tls_sans;
  bool insecure = false;
  // Agents without a client certificate pass on their token alone (weaker;
  // for simulated fleets and agents registered before certificates).
  bool agent_token_auth = false;
  std::string cipher_key_file;  // secure variables' key ("" = DIR/cipher.key)
  // Retention (docs/operations.md): a finished run's artifacts and console
  // log go when no rule keeps the run.
  int retain_runs = 50;
  int retain_days = 30;
  int retain_deploys = 5;
  std::string retention_interval_flag = "10m";
  absl::Duration retention_interval;
  // The leader lease (docs/operations.md, "Two controllers on one
  // database"): how long a leader that stopped renewing keeps it, and the
  // address a standby sends clients to ("" = the listen address, with a
  // wildcard host as 127.0.0.1).
  std::string lease_timeout_flag = "10s";
  absl::Duration lease_timeout;
  std::string advertise_address;
  // Parsed from the flags above.
  absl::Duration agent_lost_timeout;
  absl::Duration heartbeat_interval;
};

// Parses and checks every flag. Returns an exit code when the controller
// should not run (--help, a bad flag or combination), having said why.
std::optional<int> ParseFlags(int argc, char** argv, ControllerFlags& flags);

}  // namespace gantry
