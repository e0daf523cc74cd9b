// A TCP proxy on loopback that the chaos run puts between an agent and the
// controller, so it can cut that agent's connection: every open connection
// is dropped and new ones are refused until the cut ends. Bytes pass through
// untouched (TLS included: the agent still verifies the controller).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gantry::chaos {

class TcpProxy {
 public:
  // Listens on 127.0.0.1 (port 0) and forwards to 127.0.0.1:upstream_port.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int upstream_port);
  // The same in front of a Unix socket (a PostgreSQL's .s.PGSQL.PORT).
  static absl::StatusOr<std::unique_ptr<TcpProxy>> StartToUnix(const std::string& socket_path);
  ~TcpProxy();

  std::string address() const;  // "127.0.0.1:PORT"
  // Drops every open connection now and refuses new ones for `length`.
  void Cut(absl::Duration length);

 private:
  TcpProxy(int listen_fd, int port, int upstream_port, std::string upstream_path = "");
  // A connected socket to the upstream, or -1.
  int ConnectUpstream() const;
  void AcceptLoop();
  void Pump(int client, int upstream);
  bool Cutting();

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  const std::string upstream_path_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  absl::Time cut_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<int> open_ ABSL_GUARDED_BY(mu_);  // both ends of every pair
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace gantry::chaos
