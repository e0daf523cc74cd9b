// The controller's start-up pieces that main wires together: the data dir,
// the database connections, the gRPC server and its credentials, and the
// address file.
#include "controller/controller_setup.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/limits.h"
#include "common/files.h"
#include "controller/http/grpc_counter.h"

namespace gantry {

// Makes `data_dir` absolute and creates it, for the controller's user only
// (docs/security.md). Run as root with an embedded PostgreSQL, which runs as
// another user, others keep search permission (0711) so that user reaches
// DIR/pg; they still cannot list or read anything.
absl::Status PrepareDataDir(std::string& data_dir, bool embedded_pg_as_other_user) {
  std::error_code ec;
  data_dir = std::filesystem::absolute(data_dir, ec).lexically_normal().string();
  if (!data_dir.empty() && data_dir.back() == '/') data_dir.pop_back();
  if (auto st = MakeDirs(data_dir); !st.ok()) return st;
  ::chmod(data_dir.c_str(), embedded_pg_as_other_user ? 0711 : 0700);
  return absl::OkStatus();
}

// The scheduler's connection, migrated: to --database-url, or to an
// embedded cluster started under the data dir (then `embedded` holds it and
// flags.database_url is set to it). Errors are the messages to log.
absl::StatusOr<std::unique_ptr<store::Db>> OpenDatabase(
    ControllerFlags& flags, std::unique_ptr<EmbeddedPostgres>& embedded) {
  if (flags.database_url.empty()) {
    EmbeddedPostgresOptions opts;
    opts.data_dir = flags.data_dir;
    opts.run_as_user = flags.pg_user;
    auto pg = EmbeddedPostgres::Start(opts);
    if (!pg.ok()) {
      return absl::Status(pg.status().code(),
                          absl::StrCat("embedded PostgreSQL: ", pg.status().message()));
    }
    embedded = std::move(*pg);
    flags.database_url = embedded->ConnectionString();
  }
  auto db = store::Db::Connect(flags.database_url);
  if (!db.ok()) return db.status();
  if (auto st = (*db)->Migrate(); !st.ok()) return st;
  return db;
}

// `size` more connections, for a pool of their own.
absl::StatusOr<std::vector<std::unique_ptr<store::Db>>> ConnectPool(const std::string& database_url,
                                                                    int size) {
  std::vector<std::unique_ptr<store::Db>> pool;
  for (int i = 0; i < size; ++i) {
    auto conn = store::Db::Connect(database_url);
    if (!conn.ok()) return conn.status();
    pool.push_back(std::move(*conn));
  }
  return pool;
}

// Serves `services` on `listen`; *port is the port bound (0 on failure).
std::unique_ptr<grpc::Server> BuildServer(const std::string& listen,
                                          std::shared_ptr<grpc::ServerCredentials> credentials,
                                          const std::vector<grpc::Service*>& services,
                                          int64_t max_transport_mib, int* port) {
  grpc::ServerBuilder builder;
  // Calls by method and code, for /metrics (controller/http/grpc_counter.h).
  builder.experimental().SetInterceptorCreators(http::GrpcCountingInterceptors());
  // gRPC grows each stream's flow-control window on a fast link (BDP
  // probing), so a fleet streaming console output while the database is away
  // would park megabytes per agent in transport buffers, past the bounded
  // inbox. A quota makes gRPC shrink the windows under pressure instead.
  if (max_transport_mib > 0) {
    grpc::ResourceQuota quota("gantry-controller");
    quota.Resize(static_cast<size_t>(max_transport_mib) << 20);
    builder.SetResourceQuota(quota);
  }
  builder.AddListeningPort(listen, std::move(credentials), port);
  // gRPC sets SO_REUSEPORT by default, which lets a second controller bind
  // the same port and take half the connections: a port in use must fail.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* service : services) builder.RegisterService(service);
  // gRPC's default 4 MiB would refuse configs the parser accepts.
  builder.SetMaxReceiveMessageSize(static_cast<int>(config::kMaxConfigMessageBytes));
  // Agents ping to keep NAT mappings alive and to notice a dead controller.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS stays at gRPC's 120 s: at 10 s, a
  // fleet of 10,000 reconnecting at once after a restart timed out most of
  // its own handshakes and retried in a storm (docs/performance.md).
  return builder.BuildAndStart();
}

// The address `listen` is reached at, with a wildcard host replaced by
// 127.0.0.1.
std::string ServedAddress(const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  return absl::StrCat(host, ":", port);
}

// Writes DATA_DIR/controller.addr (for tests and scripts).
absl::Status WriteAddressFile(const std::string& data_dir, const std::string& address) {
  return WriteFileAtomic(data_dir + "/controller.addr", address + "\n", 0644);
}

// The server's credentials: TLS from DATA_DIR/tls (made on first start) or
// the operator's --tls-cert, or plaintext under --insecure, which is warned
// about at every start. `tls` keeps the CA for signing agents' certificates.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const ControllerFlags& flags, std::optional<ServerTls>& tls) {
  if (flags.insecure) {
    spdlog::warn(
        "serving PLAINTEXT (--insecure) on {}: tokens and secure variables cross the wire in "
        "clear; use this for local tests only",
        flags.listen);
    return grpc::InsecureServerCredentials();
  }
  ServerTlsOptions options;
  options.data_dir = flags.data_dir;
  options.listen = flags.listen;
  options.extra_sans = flags.tls_sans;
  options.cert_file = flags.tls_cert;
  options.key_file = flags.tls_key;
  auto loaded = LoadOrCreateServerTls(options);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(), absl::StrCat("TLS: ", loaded.status().message()));
  }
  tls = std::move(*loaded);
  spdlog::info(
      "TLS on: certificate for {}{}; CA {} fingerprint {} (agents: --ca-file {} or "
      "--ca-fingerprint {})",
      absl::StrJoin(tls->names, ", "), flags.tls_cert.empty() ? "" : " (--tls-cert)", tls->ca_file,
      tls->ca_fingerprint, tls->ca_file, tls->ca_fingerprint);
  return MakeServerCredentials(*tls);
}

}  // namespace gantry
