// The controller's start-up pieces that main wires together (main.cc keeps
// the order, the signals and the leader's start).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/controller_flags.h"
#include "controller/embedded_pg/embedded_postgres.h"
#include "controller/store/db.h"
#include "controller/tls/server_tls.h"

namespace gantry {

// Makes `data_dir` absolute and creates it, for the controller's user only
// (docs/security.md); 0711 when an embedded PostgreSQL runs as another user.
absl::Status PrepareDataDir(std::string& data_dir, bool embedded_pg_as_other_user);

// The scheduler's connection, migrated: to --database-url, or to an
// embedded cluster started under the data dir (then `embedded` holds it and
// flags.database_url is set to it). Errors are the messages to log.
absl::StatusOr<std::unique_ptr<store::Db>> OpenDatabase(
    ControllerFlags& flags, std::unique_ptr<EmbeddedPostgres>& embedded);

// `size` more connections, for a pool of their own.
absl::StatusOr<std::vector<std::unique_ptr<store::Db>>> ConnectPool(const std::string& database_url,
                                                                    int size);

// Serves `services` on `listen`; *port is the port bound (0 on failure).
std::unique_ptr<grpc::Server> BuildServer(const std::string& listen,
                                          std::shared_ptr<grpc::ServerCredentials> credentials,
                                          const std::vector<grpc::Service*>& services,
                                          int64_t max_transport_mib, int* port);

// The address `listen` is reached at, with a wildcard host replaced by
// 127.0.0.1.
std::string ServedAddress(const std::string& listen, int port);

// Writes DATA_DIR/controller.addr (for tests and scripts).
absl::Status WriteAddressFile(const std::string& data_dir, const std::string& address);

// The server's credentials: TLS from DATA_DIR/tls (made on first start) or
// the operator's --tls-cert, or plaintext under --insecure, which is warned
// about at every start. `tls` keeps the CA for signing agents' certificates.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const ControllerFlags& flags, std::optional<ServerTls>& tls);

}  // namespace gantry
