// How a client (agent, CLI, test) dials the controller: TLS against a CA,
// optionally with its own certificate, or plaintext when asked for; and
// fetching a controller's CA by its pinned fingerprint.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::tls {

struct ClientTls {
  bool insecure = false;  // plaintext; the fields below are ignored
  std::string ca_pem;     // roots the controller's certificate must chain to
  // The client's own identity for mutual TLS; both or neither.
  std::string key_pem;
  std::string cert_chain_pem;
};

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTls& tls);

// Connects to `address` (HOST:PORT), takes the certificates the server
// presents, and returns the one (PEM) whose SHA-256 fingerprint is
// `fingerprint` once the server's own certificate verifies against it.
// UNAUTHENTICATED when no presented certificate matches the pin.
absl::StatusOr<std::string> FetchPinnedCa(const std::string& address,
                                          const std::string& fingerprint,
                                          absl::Duration timeout = absl::Seconds(10));

// The host of HOST:PORT, [V6]:PORT, or a gRPC target (ipv4:, dns:///).
std::string HostOf(const std::string& address);

// Whether `host` can only be reached from this machine: localhost, 127/8,
// ::1.
bool IsLoopbackHost(const std::string& host);

}  // namespace gantry::tls
