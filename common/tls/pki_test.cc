#include "common/tls/pki.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/tls/client_tls.h"

namespace gantry::tls {
namespace {

struct Ca {
  std::string key;
  std::string cert;
};

Ca MakeCa(const std::string& name) {
  Ca ca;
  ca.key = *GenerateKeyPem();
  ca.cert = *MakeCaCertificate(ca.key, name, absl::Hours(24));
  return ca;
}

TEST(PkiTest, ServerCertificateCarriesItsNamesAndVerifiesOnlyAgainstItsCa) {
  Ca ca = MakeCa("test CA");
  std::string key = *GenerateKeyPem();
  CertificateSpec spec;
  spec.common_name = "controller";
  spec.alt_names = {"localhost", "127.0.0.1", "::1", "ci.example.com"};
  spec.server = true;
  absl::StatusOr<std::string> cert = SignCertificate(ca.cert, ca.key, key, spec);
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<CertificateInfo> info = InspectCertificate(*cert);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "controller");
  EXPECT_EQ(info->alt_names,
            (std::vector<std::string>{"localhost", "127.0.0.1", "::1", "ci.example.com"}));
  EXPECT_TRUE(absl::StartsWith(info->fingerprint, "sha256:"));
  EXPECT_EQ(info->fingerprint.size(), 7u + 64u);
  EXPECT_GT(info->not_after, absl::Now() + absl::Hours(24 * 300));
  EXPECT_TRUE(VerifyCertificate(*cert, ca.cert).ok());
  EXPECT_TRUE(KeyMatchesCertificate(key, *cert));
  EXPECT_FALSE(KeyMatchesCertificate(ca.key, *cert));

  Ca other = MakeCa("other CA");
  absl::Status wrong = VerifyCertificate(*cert, other.cert);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated) << wrong;
}

TEST(PkiTest, CsrGivesTheRequestersPublicKeyAndTamperingIsRefused) {
  Ca ca = MakeCa("test CA");
  std::string agent_key = *GenerateKeyPem();
  absl::StatusOr<std::string> csr = MakeCsr(agent_key, "agent-1");
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<std::string> pub = CsrPublicKey(*csr);
  ASSERT_TRUE(pub.ok()) << pub.status();
  CertificateSpec spec;
  spec.common_name = "agent-1";
  spec.client = true;
  absl::StatusOr<std::string> cert = SignCertificate(ca.cert, ca.key, *pub, spec);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(KeyMatchesCertificate(agent_key, *cert));

  EXPECT_FALSE(CsrPublicKey("not a csr").ok());
  std::string tampered = *csr;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(CsrPublicKey(tampered).ok());
}

TEST(PkiTest, SplitsChainsAndNormalizesFingerprints) {
  Ca a = MakeCa("a");
  Ca b = MakeCa("b");
  std::vector<std::string> parts = SplitCertificates(a.cert + b.cert);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(InspectCertificate(parts[1])->common_name, "b");

  std::string hex(64, 'a');
  EXPECT_EQ(*NormalizeFingerprint("SHA256:" + hex), "sha256:" + hex);
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += (i ? ":" : "") + std::string("AA");
  EXPECT_EQ(*NormalizeFingerprint(colons), "sha256:" + hex);
  EXPECT_FALSE(NormalizeFingerprint("sha256:1234").ok());
  EXPECT_FALSE(NormalizeFingerprint("sha256:" + std::string(64, 'g')).ok());
}

TEST(ClientTlsTest, LoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.5.0.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
  EXPECT_EQ(HostOf("127.0.0.1:8150"), "127.0.0.1");
  EXPECT_EQ(HostOf("[::1]:8150"), "::1");
  EXPECT_EQ(HostOf("ipv4:10.0.0.1:1"), "10.0.0.1");
}

}  // namespace
}  // namespace gantry::tls
