// End-to-end: the HTTP listener speaks TLS with the controller's own
// certificate, as gRPC does. curl (a client nobody wrote for this) checks
// it against the controller's CA; a plaintext request and an unverified
// one are refused; the sign-in cookie is Secure; and plain HTTP is refused
// on anything but loopback.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

std::string Trimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
}

RunResult Curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"curl", "--silent", "--show-error", "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.timeout = absl::Seconds(30);
  absl::StatusOr<RunResult> run = RunCommand(argv, options);
  EXPECT_TRUE(run.ok()) << run.status();
  return run.ok() ? *run : RunResult{};
}

TEST(HttpTlsE2eTest, HttpsWithTheControllersCertificate) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController({"--http-listen", "127.0.0.1:0"}).ok()) << cluster.LogTails();
  const std::string addr = Trimmed(cluster.data_dir() + "/http.addr");
  ASSERT_FALSE(addr.empty());
  const std::string token = Trimmed(cluster.admin_token_file());

  RunResult ok = Curl({"--cacert", cluster.ca_file(), "-H", "Authorization: Bearer " + token,
                       absl::StrCat("https://", addr, "/api/v1/whoami")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(absl::StrContains(ok.out, "\"user\":\"admin\"")) << ok.out;

  // Without the controller's CA the certificate is not trusted (curl: 60).
  RunResult unverified = Curl({absl::StrCat("https://", addr, "/api/v1/whoami")});
  EXPECT_EQ(unverified.exit_code, 60) << unverified.err;

  // Plaintext to the TLS port gets no HTTP answer.
  RunResult plain = Curl(
      {"-o", "/dev/null", "-w", "%{http_code}", absl::StrCat("http://", addr, "/api/v1/whoami")});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_EQ(plain.out, "000");

  // The session cookie only travels over TLS.
  RunResult signin =
      Curl({"--cacert", cluster.ca_file(), "-D", "-", "-o", "/dev/null", "-H",
            "Content-Type: application/json", "--data", absl::StrCat("{\"token\":\"", token, "\"}"),
            absl::StrCat("https://", addr, "/api/v1/session")});
  EXPECT_EQ(signin.exit_code, 0) << signin.err;
  EXPECT_TRUE(absl::StrContains(signin.out, "HttpOnly; SameSite=Strict; Secure")) << signin.out;
  EXPECT_TRUE(absl::StrContains(cluster.ControllerLog(), "serving HTTPS")) << cluster.LogTails();
}

TEST(HttpTlsE2eTest, PlainHttpOnlyOnLoopback) {
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--http-plaintext", "--http-listen", "0.0.0.0:0"},
        std::vector<std::string>{"--insecure", "--http-listen", "0.0.0.0:0"}}) {
    std::vector<std::string> argv = {BinDir() + "/gantry-controller", "--data-dir",
                                     "/nonexistent/never-made", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    RunOptions options;
    options.timeout = absl::Seconds(30);
    absl::StatusOr<RunResult> run = RunCommand(argv, options);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->exit_code, 2) << run->err;
    EXPECT_TRUE(absl::StrContains(run->err, "only allowed on a loopback --http-listen address"))
        << run->err;
  }
}

}  // namespace
}  // namespace gantry::e2e
