#include "common/tls/pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gantry::tls {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

// The OpenSSL error queue as one line (and emptied).
absl::Status SslError(const std::string& what) {
  std::string detail;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!detail.empty()) detail += "; ";
    detail += buf;
  }
  return absl::InternalError(detail.empty() ? what : absl::StrCat(what, ": ", detail));
}

BioPtr ReadBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<KeyPtr> ReadPrivateKey(const std::string& pem) {
  BioPtr bio = ReadBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return SslError("not a PEM private key");
  return key;
}

absl::StatusOr<KeyPtr> ReadPublicKey(const std::string& pem) {
  if (absl::StrContains(pem, "PRIVATE KEY")) {
    auto key = ReadPrivateKey(pem);
    if (!key.ok()) return key.status();
    return std::move(*key);
  }
  BioPtr bio = ReadBio(pem);
  KeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return SslError("not a PEM public key");
  return key;
}

absl::StatusOr<X509Ptr> ReadCertificate(const std::string& pem) {
  BioPtr bio = ReadBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return SslError("not a PEM certificate");
  return cert;
}

std::string CertificatePem(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert);
  return BioText(out.get());
}

std::string PublicKeyPem(EVP_PKEY* key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(out.get(), key);
  return BioText(out.get());
}

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return SslError(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509_NAME* name, const std::string& common_name) {
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("Gantry"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return SslError("cannot set the subject name");
  }
  return absl::OkStatus();
}

// A certificate for `subject_key`, issued by `issuer` (null: self-signed)
// and signed with `signing_key`.
absl::StatusOr<std::string> Issue(EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* signing_key,
                                  const CertificateSpec& spec) {
  X509Ptr cert(X509_new());
  if (!cert) return SslError("X509_new");
  X509_set_version(cert.get(), 2);
  // 127 random bits, positive.
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return SslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return SslError("cannot set the serial number");
  }
  // An hour back, so a clock a little behind ours still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  static_cast<long>(absl::ToInt64Seconds(spec.validity)));
  if (absl::Status st = SetSubject(X509_get_subject_name(cert.get()), spec.common_name); !st.ok()) {
    return st;
  }
  X509_set_issuer_name(cert.get(),
                       issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get()));
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return SslError("X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions;
  if (spec.is_ca) {
    extensions = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                  {NID_subject_key_identifier, "hash"}};
  } else {
    extensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                  {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                  {NID_subject_key_identifier, "hash"},
                  {NID_authority_key_identifier, "keyid"}};
    std::vector<std::string> usages;
    if (spec.server) usages.push_back("serverAuth");
    if (spec.client) usages.push_back("clientAuth");
    if (!usages.empty()) extensions.push_back({NID_ext_key_usage, absl::StrJoin(usages, ",")});
  }
  std::vector<std::string> sans;
  for (const std::string& name : spec.alt_names) {
    sans.push_back(absl::StrCat(IsIpAddress(name) ? "IP:" : "DNS:", name));
  }
  if (!sans.empty()) extensions.push_back({NID_subject_alt_name, absl::StrJoin(sans, ",")});
  for (const auto& [nid, value] : extensions) {
    if (absl::Status st = AddExtension(cert.get(), &ctx, nid, value); !st.ok()) return st;
  }
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) == 0) return SslError("X509_sign");
  return CertificatePem(cert.get());
}

std::string ToHex(const unsigned char* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> GenerateKeyPem() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return SslError("cannot generate an EC key");
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return SslError("cannot write the key");
  }
  return BioText(out.get());
}

absl::StatusOr<std::string> MakeCaCertificate(const std::string& key_pem,
                                              const std::string& common_name,
                                              absl::Duration validity) {
  auto key = ReadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  CertificateSpec spec;
  spec.common_name = common_name;
  spec.is_ca = true;
  spec.validity = validity;
  return Issue(key->get(), nullptr, key->get(), spec);
}

absl::StatusOr<std::string> SignCertificate(const std::string& ca_cert_pem,
                                            const std::string& ca_key_pem,
                                            const std::string& public_key_pem,
                                            const CertificateSpec& spec) {
  auto ca = ReadCertificate(ca_cert_pem);
  if (!ca.ok()) return ca.status();
  auto ca_key = ReadPrivateKey(ca_key_pem);
  if (!ca_key.ok()) return ca_key.status();
  auto subject = ReadPublicKey(public_key_pem);
  if (!subject.ok()) return subject.status();
  return Issue(subject->get(), ca->get(), ca_key->get(), spec);
}

absl::StatusOr<std::string> MakeCsr(const std::string& key_pem, const std::string& common_name) {
  auto key = ReadPrivateKey(key_pem);
  if (!key.ok()) return key.status();
  ReqPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  if (absl::Status st = SetSubject(X509_REQ_get_subject_name(req.get()), common_name); !st.ok()) {
    return st;
  }
  if (X509_REQ_set_pubkey(req.get(), key->get()) != 1 ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) == 0) {
    return SslError("cannot sign the request");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(out.get(), req.get());
  return BioText(out.get());
}

absl::StatusOr<std::string> CsrPublicKey(const std::string& csr_pem) {
  BioPtr bio = ReadBio(csr_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request is not a PEM CSR");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate request's signature does not verify");
  }
  return PublicKeyPem(key);
}

absl::StatusOr<CertificateInfo> InspectCertificate(const std::string& pem) {
  auto cert = ReadCertificate(pem);
  if (!cert.ok()) return cert.status();
  CertificateInfo info;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert->get(), EVP_sha256(), digest, &len) != 1) return SslError("X509_digest");
  info.fingerprint = absl::StrCat("sha256:", ToHex(digest, len));
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->get()), nullptr));
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    info.serial_hex = absl::AsciiStrToLower(hex);
    OPENSSL_free(hex);
  }
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert->get()), NID_commonName, cn,
                                sizeof(cn)) > 0) {
    info.common_name = cn;
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* s = name->d.dNSName;
      info.alt_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  ASN1_STRING_length(s));
    } else if (name->type == GEN_IPADD) {
      const ASN1_STRING* s = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
      if (inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text)) != nullptr) {
        info.alt_names.emplace_back(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
  struct tm tm = {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert->get()), &tm) == 1) {
    info.not_after = absl::FromTimeT(timegm(&tm));
  }
  return info;
}

std::vector<std::string> SplitCertificates(const std::string& pem) {
  std::vector<std::string> out;
  BioPtr bio = ReadBio(pem);
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    out.push_back(CertificatePem(cert.get()));
  }
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

absl::Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem) {
  auto cert = ReadCertificate(cert_pem);
  if (!cert.ok()) return cert.status();
  std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>> store(X509_STORE_new());
  for (const std::string& one : SplitCertificates(ca_pem)) {
    auto ca = ReadCertificate(one);
    if (ca.ok()) X509_STORE_add_cert(store.get(), ca->get());
  }
  std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>> ctx(
      X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate does not verify: ", X509_verify_cert_error_string(error)));
  }
  return absl::OkStatus();
}

bool KeyMatchesCertificate(const std::string& key_pem, const std::string& cert_pem) {
  auto key = ReadPrivateKey(key_pem);
  auto cert = ReadCertificate(cert_pem);
  bool match = key.ok() && cert.ok() && X509_check_private_key(cert->get(), key->get()) == 1;
  ERR_clear_error();
  return match;
}

absl::StatusOr<std::string> NormalizeFingerprint(const std::string& text) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (absl::StartsWith(s, "sha256:")) s = s.substr(7);
  std::string hex;
  for (char c : s) {
    if (c == ':') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      hex.clear();
      break;
    }
    hex += c;
  }
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad fingerprint '", text,
                     "': expected sha256: and 64 hex digits (as the controller "
                     "prints at start)"));
  }
  return absl::StrCat("sha256:", hex);
}

}  // namespace gantry::tls
