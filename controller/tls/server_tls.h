// The controller's TLS material: its own CA (made on first start under
// DATA_DIR/tls, kept for signing agents' certificates) and the certificate
// it serves, made from that CA for the names it is reached by, or the
// operator's own (--tls-cert/--tls-key).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gantry {

struct ServerTlsOptions {
  std::string data_dir;
  std::string listen;                   // HOST:PORT as given to --listen
  std::vector<std::string> extra_sans;  // --tls-san
  std::string cert_file;                // --tls-cert ("" = ours)
  std::string key_file;                 // --tls-key
};

struct ServerTls {
  std::string ca_cert_pem;  // the controller's CA: signs agents' certificates
  std::string ca_key_pem;
  std::string ca_fingerprint;  // "sha256:…", what agents pin
  std::string cert_chain_pem;  // served: leaf then CA
  std::string key_pem;
  std::vector<std::string> names;  // the served certificate's SANs
  std::string ca_file;             // DATA_DIR/tls/ca.crt
};

// Files under DATA_DIR/tls: ca.key and server.key 0600, ca.crt and
// server.crt 0644. The CA is made once; the server certificate again when
// the names it must cover change or it is within 30 days of expiry.
absl::StatusOr<ServerTls> LoadOrCreateServerTls(const ServerTlsOptions& options);

// The names the served certificate covers: localhost, 127.0.0.1, ::1, the
// listen host (or, listening on a wildcard, this machine's hostname), then
// `extra`; without duplicates.
std::vector<std::string> ServerNames(const std::string& listen,
                                     const std::vector<std::string>& extra);

// TLS credentials for the gRPC server: a client certificate is asked for
// and, when given, must be signed by the controller's CA (agents after
// registration); clients without one (the CLI, registering agents) are let
// through to token checks.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls);

}  // namespace gantry
