// How the `gantry` CLI finds and talks to the controller: resolving the
// address and token from flags, environment and the data dir, opening the
// channel, and turning RPC failures into one-line messages.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
  std::string address;
  std::string address_source;
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
// replaced by the matching loopback address.
absl::StatusOr<ConnectionSettings> ResolveConnection(
    const ConnectionFlags& flags, const EnvLookup& env);

// Checks HOST:PORT (or a gRPC target with a scheme such as unix:/path).
absl::Status ValidateAddress(const std::string& address);

// A channel to the controller. Every context it makes carries the bearer
// token and a deadline.
class Connection {
 public:
  explicit Connection(ConnectionSettings settings,
                      absl::Duration call_timeout = absl::Seconds(30));

  gantry::v1::OperatorService::StubInterface& stub() { return *stub_; }
  const ConnectionSettings& settings() const { return settings_; }

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
  ConnectionSettings settings_;
  absl::Duration call_timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<gantry::v1::OperatorService::StubInterface> stub_;
};

// True for codes where repeating the same read later may succeed
// (UNAVAILABLE, CANCELLED by a controller shutting down, DEADLINE_EXCEEDED,
// ABORTED, RESOURCE_EXHAUSTED). Only idempotent reads are retried.
bool IsRetriable(const absl::Status& status);

}  // namespace gantry::cli
