// Where a client (agent, CLI) may find the controller: the value of
// --controller turned into an ordered list of targets, and the way a client
// follows the leader among them.
//
// The value is one HOST:PORT, or several separated by commas
// ("a:8150,b:8150"). A host name that resolves to several addresses becomes
// one target per address, dialled by its IP while the controller's
// certificate is still checked against the name (each target's tls_name).
// A name that resolves to one address, a name that does not resolve (yet),
// an IP literal, localhost and a gRPC target with a scheme (unix:/path,
// dns:///h:p) stay one target, dialled exactly as given: a single
// controller costs no extra lookup or RPC beyond what gRPC does itself.
//
// Two controllers on one database elect a leader; a standby refuses writes
// and every agent call with UNAVAILABLE "not the leader (leader at
// HOST:PORT)" (or "(no leader yet)"). LeaderNamedIn reads that address back.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tls/client_tls.h"

namespace gantry {

struct ControllerTarget {
  // What the channel dials: the entry as given, or "ipv4:10.0.0.1:8150" /
  // "ipv6:[fd00::1]:8150" for one address of a name with several.
  std::string target;
  // The HOST:PORT entry it came from, as given.
  std::string address;
  // The name the certificate must carry when `target` is an address of it
  // ("" when the target is dialled by the name itself).
  std::string tls_name;

  // For messages: "a:8150", or "ctl.example:8150 (10.0.0.1)".
  std::string Label() const;
};

// Numeric addresses (as inet_ntop writes them) of `host`; empty when it
// does not resolve. Injected in tests; the default asks getaddrinfo.
using HostResolver = std::function<std::vector<std::string>(const std::string& host)>;
HostResolver SystemResolver();

// Checks one entry: HOST:PORT with a port 1-65535, [V6]:PORT, or a gRPC
// target with a scheme (unix:, dns:, ipv4:, ipv6:), which passes unchecked.
// INVALID_ARGUMENT "bad controller address 'X': expected HOST:PORT".
absl::Status ValidateControllerAddress(const std::string& address);

// The targets of a --controller value, in the order given (a name's
// addresses in the resolver's order), duplicates dropped. `rewrite` is
// applied to each entry before it is checked (the CLI turns 0.0.0.0:P into
// 127.0.0.1:P). A bad entry is INVALID_ARGUMENT naming it, and the whole
// value when it has several: "bad controller address 'x' in 'a:1,x':
// expected HOST:PORT".
absl::StatusOr<std::vector<ControllerTarget>> ParseControllerTargets(
    const std::string& value, const HostResolver& resolve = SystemResolver(),
    const std::function<std::string(const std::string&)>& rewrite = nullptr);

// A channel to `target` with `tls` and `args`; the certificate is checked
// against target.tls_name when it has one.
std::shared_ptr<grpc::Channel> DialController(const ControllerTarget& target,
                                              const tls::ClientTls& tls,
                                              grpc::ChannelArguments args);

// "HOST:PORT" of "... not the leader (leader at HOST:PORT) ..."; "" for any
// other message, "not the leader (no leader yet)" included.
std::string LeaderNamedIn(absl::string_view message);
// Whether `message` is a standby's refusal ("not the leader (...)").
bool IsNotLeader(absl::string_view message);

// The target for a leader address a controller named: the known target of
// that address (an entry as given or one address of a name, so the name's
// certificate check is kept), else a new target dialled by the address; a
// numeric address not in the list is checked against the name of the
// list's resolved addresses when they all come from one name.
ControllerTarget TargetForLeader(const std::vector<ControllerTarget>& known,
                                 const std::string& leader_address);

// The controller an agent dials next: the current target until an attempt
// fails, then the leader the failure named, else the next target, round
// robin. Not thread-safe: one caller (the agent's session loop).
class ControllerRotation {
 public:
  // `targets` must not be empty.
  explicit ControllerRotation(std::vector<ControllerTarget> targets);

  const ControllerTarget& current() const;
  // After a failed attempt at current() whose error said `message`.
  void Advance(absl::string_view message);
  // Moves to the known target of `address` if it is one; false if not.
  bool MoveTo(const std::string& address);
  const std::vector<ControllerTarget>& targets() const { return targets_; }

 private:
  std::vector<ControllerTarget> targets_;
  size_t index_ = 0;
  // A leader named by a controller that is not in the list.
  std::optional<ControllerTarget> named_;
};

}  // namespace gantry
