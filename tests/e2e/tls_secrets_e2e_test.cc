// End-to-end: trust on the wire and at rest (docs/security.md). TLS is on by
// default: a client with another CA, a plaintext client and an agent with a
// wrong pin are refused, an agent that pins the CA's fingerprint keeps it;
// plaintext needs --insecure and loopback. A secure variable applied in
// plain reaches the job's environment, but never a pg_dump of the database,
// `config show`, a diff, the API or the stored console log.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/process.h"
#include "common/tls/pki.h"
#include "gantry/v1/operator.grpc.pb.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

int ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 07777;
}

std::string CaFingerprint(const Cluster& cluster) {
  std::smatch m;
  std::string log = cluster.ControllerLog();
  static const std::regex kPin("fingerprint (sha256:[0-9a-f]{64})");
  return std::regex_search(log, m, kPin) ? m[1].str() : "";
}

std::string SecretConfig(const std::string& secure_block, const std::string& marker) {
  return absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  vault:\n"
      "    group: e2e\n"
      "    secure_variables:\n",
      secure_block,
      "    stages:\n"
      "      - use:\n"
      "          jobs:\n"
      "            j:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments: [-c, \"echo ",
      marker, " pw=$PASSWORD api=$API_KEY; test ${#PASSWORD} -gt 0 && test ${#API_KEY} -gt 0\"]\n");
}

// TLS material and secrets' key are made on first start, private parts
// 0600, the data dir closed to others; clients that cannot verify, or talk
// plaintext, are refused; the fingerprint pin works and is kept.
TEST(TlsE2eTest, WrongCaPlaintextAndWrongPinAreRefused) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  const std::string dir = cluster.data_dir();
  EXPECT_EQ(ModeOf(dir), 0700);
  EXPECT_EQ(ModeOf(dir + "/tls/ca.key"), 0600);
  EXPECT_EQ(ModeOf(dir + "/tls/server.key"), 0600);
  EXPECT_EQ(ModeOf(dir + "/cipher.key"), 0600);
  EXPECT_EQ(ModeOf(dir + "/artifacts"), 0700);
  std::string pin = CaFingerprint(cluster);
  ASSERT_FALSE(pin.empty()) << "the controller did not print its CA fingerprint\n"
                            << cluster.ControllerLog();

  // The CLI with the controller's CA works (the harness gives it).
  CliResult ok = cluster.Cli({"whoami"});
  ASSERT_EQ(ok.exit_code, 0) << ok.ToString();

  // Another CA: refused, and the message says TLS.
  std::string other_key = *tls::GenerateKeyPem();
  std::string other_ca = *tls::MakeCaCertificate(other_key, "other", absl::Hours(1));
  std::string other_file = cluster.WriteFile("other-ca.crt", other_ca);
  CliResult wrong = cluster.Cli({"--ca-file", other_file, "whoami"}, absl::Seconds(60));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.ToString();
  EXPECT_TRUE(absl::StrContains(wrong.err, "TLS")) << wrong.err;

  // Plaintext against TLS: refused by the CLI and by a raw channel.
  CliResult plain = cluster.Cli({"--insecure", "whoami"}, absl::Seconds(60));
  EXPECT_EQ(plain.exit_code, 1) << plain.ToString();
  auto stub = v1::OperatorService::NewStub(
      grpc::CreateChannel(cluster.controller_addr(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  ctx.AddMetadata("authorization",
                  "Bearer " + std::string(absl::StripAsciiWhitespace(
                                  ReadFile(cluster.admin_token_file()).value_or(""))));
  v1::WhoAmIRequest req;
  v1::WhoAmIResponse resp;
  grpc::Status st = stub->WhoAmI(&ctx, req, &resp);
  EXPECT_FALSE(st.ok()) << "a plaintext client got an answer: " << resp.DebugString();

  // An agent pinning the CA's fingerprint fetches it, keeps it, and works.
  AgentOptions pinned;
  pinned.name = "pinned";
  pinned.extra_args = {"--ca-fingerprint", pin};
  absl::StatusOr<int> agent = cluster.StartAgent(pinned);
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  EXPECT_EQ(ReadFile(cluster.agent_work_dir(*agent) + "/controller-ca.crt").value_or(""),
            ReadFile(cluster.ca_file()).value_or("-"));
  EXPECT_EQ(ModeOf(cluster.agent_work_dir(*agent)), 0700);

  // A wrong pin: the agent stops with a one-line reason.
  std::string wrong_pin = absl::StrCat("sha256:", Sha256Hex("not the CA"));
  RunOptions run;
  run.timeout = absl::Seconds(30);
  absl::StatusOr<RunResult> bad =
      RunCommand({BinDir() + "/gantry-agent", "--controller", cluster.controller_addr(),
                  "--work-dir", cluster.dir() + "/agents/wrong-pin", "--register-key-file",
                  cluster.register_key_file(), "--ca-fingerprint", wrong_pin},
                 run);
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exit_code, 1) << bad->Describe() << bad->err;
  EXPECT_TRUE(absl::StrContains(bad->out + bad->err, "no certificate with fingerprint"))
      << bad->out << bad->err;
}

// --insecure is refused off loopback; on loopback it serves plaintext with a
// warning, and agents and the CLI that say --insecure run a pipeline.
TEST(TlsE2eTest, InsecureOnlyOnLoopbackAndWarned) {
  Cluster cluster;
  RunOptions run;
  run.timeout = absl::Seconds(30);
  absl::StatusOr<RunResult> wide =
      RunCommand({BinDir() + "/gantry-controller", "--data-dir", cluster.dir() + "/wide",
                  "--listen", "0.0.0.0:0", "--insecure", "--database-url", cluster.database_url()},
                 run);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->exit_code, 2) << wide->Describe();
  EXPECT_TRUE(absl::StrContains(wide->err, "only allowed on a loopback")) << wide->err;

  ASSERT_TRUE(cluster.StartController({"--insecure"}).ok()) << cluster.LogTails();
  EXPECT_TRUE(absl::StrContains(cluster.ControllerLog(), "serving PLAINTEXT (--insecure)"));
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  ASSERT_TRUE(
      cluster.ApplyConfig(SecretConfig("      PASSWORD: a\n      API_KEY: b\n", "plain")).ok());
  CliResult trigger = cluster.Cli({"pipeline", "trigger", "vault", "--wait"}, kRunDeadline);
  EXPECT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster.LogTails();
}

// The secret is in the job's environment (the job checks it) and masked in
// its log; nowhere else holds it.
TEST(SecretsE2eTest, SecretValueIsNeverStoredOrShown) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  const std::string password = absl::StrCat("pw-", RandomHex(8));
  const std::string api_key = absl::StrCat("key-", RandomHex(8));

  // One value through `gantry secret encrypt`, one plain in the file.
  CliResult encrypted = cluster.Cli({"secret", "encrypt"}, absl::Seconds(60), api_key + "\n");
  ASSERT_EQ(encrypted.exit_code, 0) << encrypted.ToString();
  std::string api_cipher(absl::StripAsciiWhitespace(encrypted.out));
  ASSERT_TRUE(absl::StartsWith(api_cipher, "AES256GCM:")) << api_cipher;
  EXPECT_FALSE(absl::StrContains(api_cipher, api_key));
  std::string yaml = SecretConfig(absl::StrCat("      PASSWORD: ", password,
                                               "   # plain: encrypted on apply\n"
                                               "      API_KEY: \"",
                                               api_cipher, "\"\n"),
                                  "v1");
  std::string path = cluster.WriteFile("config/vault.gocd.yaml", yaml);
  CliResult apply = cluster.Cli({"config", "apply", "-f", path});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();

  CliResult trigger = cluster.Cli({"pipeline", "trigger", "vault", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << cluster.LogTails();
  absl::StatusOr<std::string> log = cluster.JobLog("vault/1/use/1/j");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StrContains(*log, "v1 pw=")) << *log;

  // A trigger-time value for the secure variable is a secret too.
  const std::string override_pw = absl::StrCat("var-", RandomHex(8));
  CliResult trigger2 = cluster.Cli(
      {"pipeline", "trigger", "vault", "--var", "PASSWORD=" + override_pw, "--wait"},
      kRunDeadline);
  ASSERT_EQ(trigger2.exit_code, 0) << trigger2.ToString() << cluster.LogTails();
  absl::StatusOr<std::string> log2 = cluster.JobLog("vault/2/use/1/j");
  ASSERT_TRUE(log2.ok()) << log2.status();

  // A second apply: its diff.
  std::string yaml2 = yaml;
  yaml2.replace(yaml2.find("echo v1"), 7, "echo v2");
  std::string path2 = cluster.WriteFile("config/vault.gocd.yaml", yaml2);
  CliResult apply2 = cluster.Cli({"config", "apply", "-f", path2});
  ASSERT_EQ(apply2.exit_code, 0) << apply2.ToString();

  CliResult show = cluster.Cli({"config", "show"});
  ASSERT_EQ(show.exit_code, 0) << show.ToString();
  EXPECT_TRUE(absl::StrContains(show.out, "AES256GCM:")) << show.out;
  CliResult json = cluster.Cli({"-o", "json", "pipeline", "show", "vault/1"});
  ASSERT_EQ(json.exit_code, 0) << json.ToString();

  RunOptions run;
  run.timeout = absl::Seconds(60);
  absl::StatusOr<EmbeddedPostgres*> pg = SharedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<RunResult> dump =
      RunCommand({(*pg)->bin_dir() + "/pg_dump", "-d", cluster.database_url()}, run);
  ASSERT_TRUE(dump.ok()) << dump.status();
  ASSERT_TRUE(dump->success()) << dump->Describe() << dump->err;
  ASSERT_TRUE(absl::StrContains(dump->out, "AES256GCM:")) << "the dump holds no config?";

  for (const std::string& secret : {password, api_key, override_pw}) {
    EXPECT_FALSE(absl::StrContains(dump->out, secret)) << "pg_dump holds " << secret;
    EXPECT_FALSE(absl::StrContains(show.out, secret)) << "config show: " << show.out;
    EXPECT_FALSE(absl::StrContains(apply.out + apply.err, secret)) << apply.ToString();
    EXPECT_FALSE(absl::StrContains(apply2.out + apply2.err, secret)) << apply2.ToString();
    EXPECT_FALSE(absl::StrContains(json.out, secret)) << json.out;
    EXPECT_FALSE(absl::StrContains(*log, secret)) << *log;
    EXPECT_FALSE(absl::StrContains(*log2, secret)) << *log2;
    EXPECT_FALSE(absl::StrContains(cluster.ControllerLog(), secret));
  }
}

}  // namespace
}  // namespace gantry::e2e
