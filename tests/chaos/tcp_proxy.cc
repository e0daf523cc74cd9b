#include "tests/chaos/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"

namespace gantry::chaos {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Writes all of `n` bytes; false when the peer is gone.
bool WriteAll(int fd, const char* data, ssize_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= w;
  }
  return true;
}

// A listening socket on 127.0.0.1, any port; -1 on failure.
int ListenOnLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int upstream_port) {
  int port = 0;
  int fd = ListenOnLoopback(&port);
  if (fd < 0) return absl::InternalError("proxy: bind/listen failed");
  return std::unique_ptr<TcpProxy>(new TcpProxy(fd, port, upstream_port));
}

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::StartToUnix(const std::string& socket_path) {
  int port = 0;
  int fd = ListenOnLoopback(&port);
  if (fd < 0) return absl::InternalError("proxy: bind/listen failed");
  return std::unique_ptr<TcpProxy>(new TcpProxy(fd, port, 0, socket_path));
}

int TcpProxy::ConnectUpstream() const {
  if (upstream_path_.empty()) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(upstream_port_);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  upstream_path_.copy(a.sun_path, sizeof(a.sun_path) - 1);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

TcpProxy::TcpProxy(int listen_fd, int port, int upstream_port, std::string upstream_path)
    : listen_fd_(listen_fd),
      port_(port),
      upstream_port_(upstream_port),
      upstream_path_(std::move(upstream_path)) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

std::string TcpProxy::address() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpProxy::Cut(absl::Duration length) {
  absl::MutexLock lock(&mu_);
  cut_until_ = absl::Now() + length;
  // Shutdown, not close: each pump closes its own pair once it sees it.
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

bool TcpProxy::Cutting() {
  absl::MutexLock lock(&mu_);
  return absl::Now() < cut_until_;
}

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    if (Cutting()) {  // the cable is out: the agent sees a reset
      ::close(client);
      continue;
    }
    int upstream = ConnectUpstream();
    if (upstream < 0) {
      ::close(client);  // the upstream is down: so is the path to it
      continue;
    }
    absl::MutexLock lock(&mu_);
    open_.push_back(client);
    open_.push_back(upstream);
    threads_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpProxy::Pump(int client, int upstream) {
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  char buf[64 * 1024];
  bool open = true;
  while (open && !stop_) {
    if (::poll(fds, 2, 500) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && open; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::recv(fds[i].fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      open = n > 0 && WriteAll(fds[1 - i].fd, buf, n);
    }
  }
  absl::MutexLock lock(&mu_);
  for (int fd : {client, upstream}) {
    open_.erase(std::remove(open_.begin(), open_.end(), fd), open_.end());
    ::close(fd);
  }
}

}  // namespace gantry::chaos
