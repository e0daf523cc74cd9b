#include "agent/controller_trust.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/tls/pki.h"

namespace gantry::agent {
namespace {

// Checks `ca_pem` against the pin (when one is given).
absl::Status MatchesPin(const std::string& ca_pem, const std::string& pin,
                        const std::string& source) {
  if (pin.empty()) return absl::OkStatus();
  std::vector<std::string> certs = tls::SplitCertificates(ca_pem);
  for (const std::string& cert : certs) {
    auto info = tls::InspectCertificate(cert);
    if (info.ok() && info->fingerprint == pin) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the CA in ", source,
                   " does not have the fingerprint given by --ca-fingerprint (", pin, ")"));
}

absl::Status Keep(const std::string& work_dir, const std::string& ca_pem) {
  if (absl::Status st = MakeDirs(work_dir, 0700); !st.ok()) return st;
  return WriteFileAtomic(KeptCaPath(work_dir), ca_pem, 0644);
}

}  // namespace

std::string KeptCaPath(const std::string& work_dir) { return work_dir + "/controller-ca.crt"; }

absl::StatusOr<tls::ClientTls> ResolveControllerTrust(
    const TrustFlags& flags, const std::string& work_dir,
    const std::vector<ControllerTarget>& controllers) {
  tls::ClientTls result;
  if (controllers.empty()) return absl::InvalidArgumentError("no controller address");
  if (flags.insecure) {
    for (const ControllerTarget& controller : controllers) {
      if (!tls::IsLoopbackHost(tls::HostOf(controller.target))) {
        return absl::InvalidArgumentError(
            absl::StrCat("--insecure is only allowed for a controller on loopback (127.0.0.1, ::1, "
                         "localhost), not ",
                         controller.Label()));
      }
    }
    spdlog::warn("talking PLAINTEXT to the controller (--insecure): for local tests only");
    result.insecure = true;
    return result;
  }
  std::string pin;
  if (!flags.ca_fingerprint.empty()) {
    auto normalized = tls::NormalizeFingerprint(flags.ca_fingerprint);
    if (!normalized.ok()) return normalized.status();
    pin = *normalized;
  }
  if (!flags.ca_file.empty()) {
    auto ca = ReadFile(flags.ca_file);
    if (!ca.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read --ca-file: ", ca.status().message()));
    }
    if (tls::SplitCertificates(*ca).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ca-file ", flags.ca_file, " holds no PEM certificate"));
    }
    if (absl::Status st = MatchesPin(*ca, pin, flags.ca_file); !st.ok()) return st;
    if (absl::Status st = Keep(work_dir, *ca); !st.ok()) return st;
    result.ca_pem = *ca;
    return result;
  }
  const std::string kept = KeptCaPath(work_dir);
  if (FileExists(kept)) {
    auto ca = ReadFile(kept);
    if (!ca.ok()) return ca.status();
    if (absl::Status st = MatchesPin(*ca, pin, kept); !st.ok()) return st;
    result.ca_pem = *ca;
    return result;
  }
  if (pin.empty()) {
    return absl::FailedPreconditionError(
        "no way to verify the controller: give --ca-file FILE (the controller's DATA_DIR/tls/"
        "ca.crt) or --ca-fingerprint sha256:… (printed by the controller at start), or "
        "--insecure for a controller on loopback");
  }
  absl::Duration wait = absl::Milliseconds(200);
  ControllerRotation rotation(controllers);
  while (true) {
    // Any controller of the list has the CA: they share it.
    const ControllerTarget& controller = rotation.current();
    absl::StatusOr<std::string> ca = tls::FetchPinnedCa(controller.target, pin);
    if (ca.ok()) {
      spdlog::info("controller CA {} matches the pin; kept in {}", pin, kept);
      if (absl::Status st = Keep(work_dir, *ca); !st.ok()) return st;
      result.ca_pem = *ca;
      return result;
    }
    if (!absl::IsUnavailable(ca.status())) return ca.status();
    rotation.Advance(ca.status().message());
    // Once per round of the list, the wait grows.
    if (&rotation.current() != &rotation.targets().front()) continue;
    spdlog::warn("fetching the controller's CA: {}; retrying in {}",
                 std::string(ca.status().message()), absl::FormatDuration(wait));
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(wait));
    wait = std::min(wait * 2, absl::Seconds(10));
  }
}

}  // namespace gantry::agent
