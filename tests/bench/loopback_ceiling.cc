#include "tests/bench/loopback_ceiling.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace gantry::bench {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat("loopback probe: ", what, ": ", std::strerror(errno)));
}

absl::StatusOr<int> ListenOnLoopback(int& port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 1) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status st = Errno("listen");
    ::close(s);
    return st;
  }
  port = ntohs(addr.sin_port);
  return s;
}

// sendfile()s the whole file into `conn`, then closes it.
absl::Status ServeFile(int accepted, const std::string& path) {
  UniqueFd conn(accepted);
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return Errno("open");
  struct stat st;
  if (::fstat(file.get(), &st) != 0) return Errno("fstat");
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n =
        ::sendfile(conn.get(), file.get(), &offset, static_cast<size_t>(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("sendfile");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<absl::Duration> TimeLoopbackTcp(const std::string& path) {
  int port = 0;
  auto listener = ListenOnLoopback(port);
  if (!listener.ok()) return listener.status();
  UniqueFd listening(*listener);
  UniqueFd conn(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  absl::Time t0 = absl::Now();
  if (conn.get() < 0 ||
      ::connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Errno("connect");
  }
  // Connected, so the connection is queued: accepting cannot wait.
  int accepted = ::accept4(listening.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (accepted < 0) return Errno("accept");
  // A sender whose reader went away gets EPIPE, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  absl::Status served;
  std::thread server([&] { served = ServeFile(accepted, path); });
  std::vector<char> buf(1 << 20);
  absl::Status received;
  for (;;) {
    ssize_t n = ::recv(conn.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) received = Errno("recv");
    if (n <= 0) break;
  }
  // Unblocks a sender still writing after a failed receive.
  ::shutdown(conn.get(), SHUT_RDWR);
  server.join();
  absl::Duration took = absl::Now() - t0;
  if (!served.ok()) return served;
  if (!received.ok()) return received;
  return took;
}

}  // namespace gantry::bench
