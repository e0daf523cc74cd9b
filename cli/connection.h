// How the `gantry` CLI finds and talks to the controller: resolving the
// address and token from flags, environment and the data dir, opening the
// channel, and turning RPC failures into one-line messages.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/controller_targets.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {

// The connection-related global flags, as given ("" when not given).
struct ConnectionFlags {
  std::string controller;
  std::string token;
  std::string token_file;
  std::string ca_file;    // --ca-file
  bool insecure = false;  // --insecure
};

// Reads an environment variable; nullopt when unset. Injected for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

inline constexpr char kDefaultControllerAddress[] = "127.0.0.1:8150";
inline constexpr char kDefaultDataDir[] = "./gantry-data";

// Where to connect and with which token, plus where each came from (for
// error messages such as "token from $GANTRY_TOKEN").
struct ConnectionSettings {
  // As given: one HOST:PORT or a comma-separated list.
  std::string address;
  std::string address_source;
  // `address` parsed (common/controller_targets.h): a list, and a name with
  // several addresses, give several.
  std::vector<ControllerTarget> targets;
  std::string token;         // "" when none was found
  std::string token_source;  // "" when none was found
  // TLS: the CA the controller's certificate must chain to ("" = the
  // system's roots), or plaintext.
  bool insecure = false;
  std::string ca_pem;
  std::string ca_source;
};

// Resolution order (first found wins):
//   address: --controller, $GANTRY_CONTROLLER, DATA_DIR/controller.addr,
//            127.0.0.1:8150
//   token:   --token or --token-file (explicit flags), $GANTRY_TOKEN,
//            DATA_DIR/admin.token
//   CA:      --insecure or $GANTRY_INSECURE=1 (plaintext, loopback only),
//            --ca-file, $GANTRY_CA_FILE, DATA_DIR/tls/ca.crt, the system's
//            roots
// DATA_DIR is $GANTRY_DATA_DIR, else ./gantry-data. Values read from files
// are trimmed. An explicit --token-file that cannot be read is an error; a
// missing file in the data dir is not. A wildcard host (0.0.0.0, [::]) is
// replaced by the matching loopback address. The address may be a list
// (a:8150,b:8150); each entry is checked and, for --insecure, must be on
// loopback.
absl::StatusOr<ConnectionSettings> ResolveConnection(const ConnectionFlags& flags,
                                                     const EnvLookup& env);

// Checks HOST:PORT (or a gRPC target with a scheme such as unix:/path).
absl::Status ValidateAddress(const std::string& address);

// How long each controller of a list gets to answer GetLeader.
inline constexpr absl::Duration kLeaderProbeTimeout = absl::Seconds(2);

// A channel to the controller. Every context it makes carries the bearer
// token and a deadline.
class Connection {
 public:
  // Dials the first target; with several, FindLeader() picks the one to use.
  explicit Connection(ConnectionSettings settings, absl::Duration call_timeout = absl::Seconds(30),
                      absl::Duration probe_timeout = kLeaderProbeTimeout);

  gantry::v1::OperatorService::StubInterface& stub() { return *stub_; }
  const ConnectionSettings& settings() const { return settings_; }
  // The controller calls go to, for messages ("b:8150").
  std::string address() const { return current_.Label(); }

  // With several targets: asks each, in order, GetLeader (without token,
  // probe_timeout each) and points stub() at the first that leads, or at
  // the leader a standby names; when none leads, at the first that
  // answered (reads work there; writes get the standby's refusal). With
  // one target: nothing, as before (no extra RPC).
  void FindLeader();

  // A fresh context for one call: `authorization: Bearer <token>` and a
  // deadline of the call timeout.
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  // As NewContext, without a deadline: for streams that last as long as
  // their data (artifact downloads).
  std::unique_ptr<grpc::ClientContext> NewStreamContext() const;

  // OK for an OK status; otherwise an absl::Status of the same code whose
  // message is the one line to show the user, e.g. "cannot reach controller
  // at 127.0.0.1:8150: ...". INVALID_ARGUMENT keeps its (possibly
  // multi-line) text unchanged.
  absl::Status Check(const grpc::Status& status) const;

 private:
  // Points the stub at `target`, over `channel` when one is already open.
  void Use(const ControllerTarget& target, std::shared_ptr<grpc::Channel> channel = nullptr);

  ConnectionSettings settings_;
  absl::Duration call_timeout_;
  absl::Duration probe_timeout_;
  ControllerTarget current_;
  // Said after "cannot reach" when no controller of a list answered.
  std::string probe_note_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gantry::v1::OperatorService::StubInterface> stub_;
};

// True for codes where repeating the same read later may succeed
// (UNAVAILABLE, CANCELLED by a controller shutting down, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED). Only idempotent reads are retried.
bool IsRetriable(const absl::Status& status);

}  // namespace gantry::cli
