// The controller's small certificate authority and the agents' keys: EC
// P-256 keys, X.509 certificates and requests, fingerprints (OpenSSL 3).
// Everything is PEM text in and out, so callers store and send it as is.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::tls {

// A new EC P-256 private key, PKCS#8 PEM.
absl::StatusOr<std::string> GenerateKeyPem();

// What a certificate says about its holder.
struct CertificateSpec {
  std::string common_name;
  // Names the holder may be reached by: IP addresses become IP SANs, the
  // rest DNS SANs.
  std::vector<std::string> alt_names;
  bool is_ca = false;
  bool server = false;  // extendedKeyUsage serverAuth
  bool client = false;  // extendedKeyUsage clientAuth
  absl::Duration validity = absl::Hours(24 * 365);
};

// A self-signed CA certificate for `key_pem`.
absl::StatusOr<std::string> MakeCaCertificate(const std::string& key_pem,
                                              const std::string& common_name,
                                              absl::Duration validity);

// A certificate for `public_key_pem` (or the public half of a private key
// PEM), signed by the CA; a random 128-bit serial.
absl::StatusOr<std::string> SignCertificate(const std::string& ca_cert_pem,
                                            const std::string& ca_key_pem,
                                            const std::string& public_key_pem,
                                            const CertificateSpec& spec);

// A certificate signing request for `key_pem` naming `common_name`.
absl::StatusOr<std::string> MakeCsr(const std::string& key_pem, const std::string& common_name);

// The public key (PEM) of a CSR whose self-signature verifies; an error for
// anything else, so a request cannot name a key its sender does not hold.
absl::StatusOr<std::string> CsrPublicKey(const std::string& csr_pem);

struct CertificateInfo {
  std::string fingerprint;  // "sha256:" + lower-case hex of the DER
  std::string serial_hex;
  std::string common_name;
  std::vector<std::string> alt_names;
  absl::Time not_after;
};

// The first certificate in `pem`.
absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& pem);

// Every certificate in `pem` (a chain), in order, each as PEM.
std::vector<std::string> SplitCertificates(const std::string& pem);

// OK when the first certificate in `cert_pem` is signed by the one in
// `ca_pem` and is within its validity.
absl::Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem);

// Whether `key_pem` is the private half of the first certificate's key.
bool KeyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem);

// "sha256:ab12…", "SHA256:AB:12:…" or bare hex to "sha256:" + lower-case hex
// without separators; an error when it is not 64 hex digits.
absl::StatusOr<std::string> NormalizeFingerprint(const std::string& text);

}  // namespace gantry::tls
