#include "common/controller_targets.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gantry {
namespace {

constexpr absl::string_view kNotLeader = "not the leader (";
constexpr absl::string_view kLeaderAt = "not the leader (leader at ";

bool HasScheme(const std::string& address) {
  return absl::StartsWith(address, "unix:") || absl::StartsWith(address, "dns:") ||
         absl::StartsWith(address, "ipv4:") || absl::StartsWith(address, "ipv6:");
}

// "[::1]" -> "::1".
std::string Unbracketed(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsNumericHost(const std::string& host) {
  std::string h = Unbracketed(host);
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, h.c_str(), &v4) == 1 || inet_pton(AF_INET6, h.c_str(), &v6) == 1;
}

// "ipv4:10.0.0.1:8150" or "ipv6:[fd00::1]:8150" -> "10.0.0.1:8150" /
// "[fd00::1]:8150"; anything else unchanged.
std::string WithoutScheme(const std::string& target) {
  absl::string_view t = target;
  if (absl::ConsumePrefix(&t, "ipv4:") || absl::ConsumePrefix(&t, "ipv6:")) return std::string(t);
  return target;
}

// HOST:PORT for a numeric host, bracketing IPv6.
std::string NumericTarget(const std::string& ip, const std::string& port) {
  if (ip.find(':') != std::string::npos) return absl::StrCat("ipv6:[", ip, "]:", port);
  return absl::StrCat("ipv4:", ip, ":", port);
}

// One entry, checked, as one target or one per address of its name.
absl::Status AddEntry(const std::string& entry, const HostResolver& resolve,
                      std::vector<ControllerTarget>& out) {
  if (absl::Status s = ValidateControllerAddress(entry); !s.ok()) return s;
  std::vector<ControllerTarget> found;
  if (!HasScheme(entry)) {
    size_t colon = entry.rfind(':');
    std::string host = entry.substr(0, colon);
    std::string port = entry.substr(colon + 1);
    if (!IsNumericHost(host) && !tls::IsLoopbackHost(host) && resolve) {
      std::vector<std::string> ips = resolve(host);
      // A name with one address is dialled by its name, as it always was.
      if (ips.size() > 1) {
        for (const std::string& ip : ips) {
          found.push_back({NumericTarget(ip, port), entry, host});
        }
      }
    }
  }
  if (found.empty()) found.push_back({entry, entry, ""});
  for (ControllerTarget& t : found) {
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const ControllerTarget& o) { return o.target == t.target; });
    if (!seen) out.push_back(std::move(t));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ControllerTarget::Label() const {
  if (tls_name.empty()) return address;
  std::string ip = WithoutScheme(target);
  ip = Unbracketed(ip.substr(0, ip.rfind(':')));
  return absl::StrCat(address, " (", ip, ")");
}

HostResolver SystemResolver() {
  return [](const std::string& host) {
    std::vector<std::string> ips;
    addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return ips;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* addr = nullptr;
      if (a->ai_family == AF_INET) {
        addr = &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr;
      } else if (a->ai_family == AF_INET6) {
        addr = &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(a->ai_family, addr, buf, sizeof(buf)) == nullptr) continue;
      if (std::find(ips.begin(), ips.end(), buf) == ips.end()) ips.emplace_back(buf);
    }
    freeaddrinfo(found);
    return ips;
  };
}

absl::Status ValidateControllerAddress(const std::string& address) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad controller address '", address, "': expected HOST:PORT"));
  };
  if (address.empty()) return bad();
  // gRPC target URIs (unix:/path, dns:///host:port, ...) pass through.
  if (HasScheme(address)) return absl::OkStatus();
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  int port_number = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return bad();
  }
  for (char c : host) {
    if (c <= 0x20 || c > 0x7e || c == '/' || c == ',') return bad();
  }
  // A bare IPv6 address needs brackets: [::1]:8150.
  if (host.find(':') != std::string::npos && !(host.front() == '[' && host.back() == ']')) {
    return bad();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ControllerTarget>> ParseControllerTargets(
    const std::string& value, const HostResolver& resolve,
    const std::function<std::string(const std::string&)>& rewrite) {
  std::vector<std::string> entries = absl::StrSplit(value, ',');
  std::vector<ControllerTarget> out;
  for (std::string entry : entries) {
    entry = std::string(absl::StripAsciiWhitespace(entry));
    if (rewrite) entry = rewrite(entry);
    if (absl::Status s = AddEntry(entry, resolve, out); !s.ok()) {
      if (entries.size() == 1) return s;
      return absl::InvalidArgumentError(absl::StrCat("bad controller address '", entry, "' in '",
                                                     value, "': expected HOST:PORT"));
    }
  }
  return out;
}

std::shared_ptr<grpc::Channel> DialController(const ControllerTarget& target,
                                              const tls::ClientTls& tls,
                                              grpc::ChannelArguments args) {
  if (!tls.insecure && !target.tls_name.empty()) args.SetSslTargetNameOverride(target.tls_name);
  return grpc::CreateCustomChannel(target.target, tls::MakeChannelCredentials(tls), args);
}

std::string LeaderNamedIn(absl::string_view message) {
  size_t at = message.find(kLeaderAt);
  if (at == absl::string_view::npos) return "";
  absl::string_view rest = message.substr(at + kLeaderAt.size());
  size_t end = rest.find(')');
  if (end == absl::string_view::npos || end == 0) return "";
  return std::string(rest.substr(0, end));
}

bool IsNotLeader(absl::string_view message) {
  return message.find(kNotLeader) != absl::string_view::npos;
}

ControllerTarget TargetForLeader(const std::vector<ControllerTarget>& known,
                                 const std::string& leader_address) {
  for (const ControllerTarget& t : known) {
    if (t.tls_name.empty() && t.address == leader_address) return t;
    if (!t.tls_name.empty() && WithoutScheme(t.target) == leader_address) return t;
  }
  ControllerTarget named{leader_address, leader_address, ""};
  size_t colon = leader_address.rfind(':');
  if (colon == std::string::npos || !IsNumericHost(leader_address.substr(0, colon))) return named;
  // An address of the name the list's addresses came from, most likely.
  std::string name;
  for (const ControllerTarget& t : known) {
    if (t.tls_name.empty()) continue;
    if (!name.empty() && name != t.tls_name) return named;
    name = t.tls_name;
  }
  named.tls_name = name;
  return named;
}

ControllerRotation::ControllerRotation(std::vector<ControllerTarget> targets)
    : targets_(std::move(targets)) {}

const ControllerTarget& ControllerRotation::current() const {
  return named_ ? *named_ : targets_[index_];
}

void ControllerRotation::Advance(absl::string_view message) {
  std::string leader = LeaderNamedIn(message);
  if (!leader.empty() && WithoutScheme(current().target) != leader && current().address != leader) {
    named_.reset();
    if (MoveTo(leader)) return;
    named_ = TargetForLeader(targets_, leader);
    return;
  }
  // A named leader that failed: back to the list, where it left off.
  if (named_) {
    named_.reset();
  }
  index_ = (index_ + 1) % targets_.size();
}

bool ControllerRotation::MoveTo(const std::string& address) {
  for (size_t i = 0; i < targets_.size(); ++i) {
    const ControllerTarget& t = targets_[i];
    if ((t.tls_name.empty() && t.address == address) || WithoutScheme(t.target) == address) {
      named_.reset();
      index_ = i;
      return true;
    }
  }
  return false;
}

}  // namespace gantry
