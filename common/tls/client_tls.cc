#include "common/tls/client_tls.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/tls/pki.h"

namespace gantry::tls {
namespace {

std::string PemOf(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A connected TCP socket to host:port, or -1 (errno-free message in *error).
int Connect(const std::string& host, const std::string& port, absl::Duration timeout,
            std::string* error) {
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  timeval tv = absl::ToTimeval(timeout);
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    *error = absl::StrCat("cannot connect to ", host, ":", port, ": ", strerror(errno));
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTls& tls) {
  if (tls.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_private_key = tls.key_pem;
  options.pem_cert_chain = tls.cert_chain_pem;
  return grpc::SslCredentials(options);
}

std::string HostOf(const std::string& address) {
  std::string a = address;
  for (const char* scheme : {"ipv4:", "ipv6:", "dns:///", "dns:"}) {
    if (absl::StartsWith(a, scheme)) {
      a = a.substr(strlen(scheme));
      break;
    }
  }
  size_t colon = a.rfind(':');
  std::string host = colon == std::string::npos ? a : a.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return false;
}

absl::StatusOr<std::string> FetchPinnedCa(const std::string& address,
                                          const std::string& fingerprint, absl::Duration timeout) {
  absl::StatusOr<std::string> pin = NormalizeFingerprint(fingerprint);
  if (!pin.ok()) return pin.status();
  std::string host = HostOf(address);
  std::string port = address.substr(address.rfind(':') + 1);
  std::string error;
  int fd = Connect(host, port, timeout, &error);
  if (fd < 0) return absl::UnavailableError(error);

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Not verified here: the pin below is the check.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!IsLoopbackHost(host)) SSL_set_tlsext_host_name(ssl, host.c_str());
  absl::StatusOr<std::string> result =
      absl::UnavailableError(absl::StrCat("TLS handshake with ", address, " failed"));
  if (SSL_connect(ssl) == 1) {
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    X509* leaf = SSL_get0_peer_certificate(ssl);
    std::string leaf_pem = leaf ? PemOf(leaf) : "";
    result = absl::UnauthenticatedError(absl::StrCat(
        "the controller at ", address, " presented no certificate with fingerprint ", *pin));
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
      std::string pem = PemOf(sk_X509_value(chain, i));
      absl::StatusOr<CertificateInfo> info = InspectCertificate(pem);
      if (!info.ok() || info->fingerprint != *pin) continue;
      absl::Status verified = VerifyCertificate(leaf_pem, pem);
      result = verified.ok() ? absl::StatusOr<std::string>(pem) : verified;
      break;
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return result;
}

}  // namespace gantry::tls
