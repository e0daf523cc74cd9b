// How the agent knows it talks to its controller: the CA from --ca-file, or
// fetched once by its pinned fingerprint (--ca-fingerprint), kept in the
// work dir so later starts need neither; plaintext only with --insecure to a
// loopback controller.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/controller_targets.h"
#include "common/tls/client_tls.h"

namespace gantry::agent {

struct TrustFlags {
  std::string ca_file;
  std::string ca_fingerprint;
  bool insecure = false;
};

// WORK_DIR/controller-ca.crt: the CA the agent trusts, once known.
std::string KeptCaPath(const std::string& work_dir);

// The TLS settings to dial the controllers with (every one of them on
// loopback for --insecure). A pinned CA is fetched from the first that
// answers, one after the other, retried while none can be reached (each
// failure logged); a certificate that does not match the pin, a CA file
// that does not match a given pin, and no way to verify at all are errors.
absl::StatusOr<tls::ClientTls> ResolveControllerTrust(
    const TrustFlags& flags, const std::string& work_dir,
    const std::vector<ControllerTarget>& controllers);

}  // namespace gantry::agent
