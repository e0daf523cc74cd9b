#include "controller/tls/server_tls.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/tls/client_tls.h"
#include "common/tls/pki.h"

namespace gantry {
namespace {

constexpr absl::Duration kCaValidity = absl::Hours(24 * 365 * 10);
constexpr absl::Duration kServerValidity = absl::Hours(24 * 397);
constexpr absl::Duration kRenewBefore = absl::Hours(24 * 30);

std::string Hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

absl::Status Write(const std::string& path, const std::string& text, int mode) {
  if (absl::Status st = WriteFileAtomic(path, text, mode); !st.ok()) return st;
  ::chmod(path.c_str(), mode);  // WriteFileAtomic's mode is masked by the umask
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& what) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the ", what, " ", path, ": ", text.status().message()));
  }
  return text;
}

// The CA under `dir`, made when absent.
absl::Status LoadOrCreateCa(const std::string& dir, ServerTls& tls) {
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";
  if (FileExists(key_path) && FileExists(cert_path)) {
    auto key = ReadPem(key_path, "CA key");
    if (!key.ok()) return key.status();
    auto cert = ReadPem(cert_path, "CA certificate");
    if (!cert.ok()) return cert.status();
    if (!tls::KeyMatchesCertificate(*key, *cert)) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path, " is not the key of ", cert_path));
    }
    tls.ca_key_pem = *key;
    tls.ca_cert_pem = *cert;
    return absl::OkStatus();
  }
  auto key = tls::GenerateKeyPem();
  if (!key.ok()) return key.status();
  std::string name = Hostname();
  auto cert = tls::MakeCaCertificate(*key, absl::StrCat("Gantry CA", name.empty() ? "" : " ", name),
                                     kCaValidity);
  if (!cert.ok()) return cert.status();
  if (absl::Status st = Write(key_path, *key, 0600); !st.ok()) return st;
  if (absl::Status st = Write(cert_path, *cert, 0644); !st.ok()) return st;
  tls.ca_key_pem = *key;
  tls.ca_cert_pem = *cert;
  return absl::OkStatus();
}

// Whether `cert_pem` still serves: issued by our CA, all `names` covered,
// not near expiry.
bool StillGood(const std::string& cert_pem, const std::string& key_pem, const ServerTls& tls,
               const std::vector<std::string>& names) {
  auto info = tls::InspectCertificate(cert_pem);
  if (!info.ok() || info->not_after < absl::Now() + kRenewBefore) return false;
  if (!tls::VerifyCertificate(cert_pem, tls.ca_cert_pem).ok()) return false;
  if (!tls::KeyMatchesCertificate(key_pem, cert_pem)) return false;
  for (const std::string& name : names) {
    if (std::find(info->alt_names.begin(), info->alt_names.end(), name) == info->alt_names.end()) {
      return false;
    }
  }
  return true;
}

absl::Status LoadOrCreateServerCert(const std::string& dir, const std::string& listen,
                                    const std::vector<std::string>& extra, ServerTls& tls) {
  const std::string key_path = dir + "/server.key";
  const std::string cert_path = dir + "/server.crt";
  tls.names = ServerNames(listen, extra);
  if (FileExists(key_path) && FileExists(cert_path)) {
    auto key = ReadPem(key_path, "server key");
    auto cert = ReadPem(cert_path, "server certificate");
    if (key.ok() && cert.ok()) {
      std::vector<std::string> chain = tls::SplitCertificates(*cert);
      if (!chain.empty() && StillGood(chain[0], *key, tls, tls.names)) {
        tls.key_pem = *key;
        tls.cert_chain_pem = *cert;
        return absl::OkStatus();
      }
    }
  }
  auto key = tls::GenerateKeyPem();
  if (!key.ok()) return key.status();
  tls::CertificateSpec spec;
  spec.common_name = tls.names.size() > 3 ? tls.names[3] : "localhost";
  spec.alt_names = tls.names;
  spec.server = true;
  spec.validity = kServerValidity;
  auto cert = tls::SignCertificate(tls.ca_cert_pem, tls.ca_key_pem, *key, spec);
  if (!cert.ok()) return cert.status();
  // The CA rides along, so a client pinning its fingerprint can find it.
  std::string chain = *cert + tls.ca_cert_pem;
  if (absl::Status st = Write(key_path, *key, 0600); !st.ok()) return st;
  if (absl::Status st = Write(cert_path, chain, 0644); !st.ok()) return st;
  tls.key_pem = *key;
  tls.cert_chain_pem = chain;
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ServerNames(const std::string& listen,
                                     const std::vector<std::string>& extra) {
  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  std::string host = tls::HostOf(listen);
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    host = Hostname();
  }
  std::vector<std::string> wanted = {host};
  wanted.insert(wanted.end(), extra.begin(), extra.end());
  for (const std::string& name : wanted) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  }
  return names;
}

absl::StatusOr<ServerTls> LoadOrCreateServerTls(const ServerTlsOptions& options) {
  const std::string dir = options.data_dir + "/tls";
  if (absl::Status st = MakeDirs(dir, 0700); !st.ok()) return st;
  ::chmod(dir.c_str(), 0700);
  ServerTls tls;
  tls.ca_file = dir + "/ca.crt";
  if (absl::Status st = LoadOrCreateCa(dir, tls); !st.ok()) return st;
  auto ca = tls::InspectCertificate(tls.ca_cert_pem);
  if (!ca.ok()) return ca.status();
  tls.ca_fingerprint = ca->fingerprint;
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.cert_file.empty()) {
    auto cert = ReadPem(options.cert_file, "--tls-cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(options.key_file, "--tls-key");
    if (!key.ok()) return key.status();
    if (tls::SplitCertificates(*cert).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls-cert ", options.cert_file, " holds no PEM certificate"));
    }
    if (!tls::KeyMatchesCertificate(*key, *cert)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-key ", options.key_file, " is not the key of --tls-cert ", options.cert_file));
    }
    tls.cert_chain_pem = *cert;
    tls.key_pem = *key;
    auto info = tls::InspectCertificate(*cert);
    if (info.ok()) tls.names = info->alt_names;
    return tls;
  }
  if (absl::Status st = LoadOrCreateServerCert(dir, options.listen, options.extra_sans, tls);
      !st.ok()) {
    return st;
  }
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls) {
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.ca_cert_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_chain_pem});
  return grpc::SslServerCredentials(options);
}

}  // namespace gantry
