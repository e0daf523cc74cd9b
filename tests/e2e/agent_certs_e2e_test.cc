// End-to-end: agents' certificates and the cipher key's rotation
// (docs/security.md). An agent's identity is the client certificate the
// controller signed from its CSR: a copy of agent.json without the key is
// refused, a certificate from another CA fails the handshake, disabling
// revokes it (the open session ends) and enabling reinstates it, and a
// deleted agent's certificate stays revoked. `gantry secret rotate-key`
// re-encrypts every stored secure value under a new key, and pipelines keep
// getting the right values, also after a restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/process/process.h"
#include "common/testing/wait_for.h"
#include "common/tls/client_tls.h"
#include "common/tls/pki.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"
#include "gantry/v1/agent.grpc.pb.h"
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

std::vector<store::AgentCertificateRecord> StoredCertificates(const Cluster& cluster) {
  std::vector<store::AgentCertificateRecord> rows;
  auto db = store::Db::Connect(cluster.database_url());
  EXPECT_TRUE(db.ok()) << db.status();
  if (!db.ok()) return rows;
  absl::Status st = (*db)->Run("test", [&](store::Tx& tx) {
    rows = tx.AgentCertificates();
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return rows;
}

void CopyIdentity(const std::string& from, const std::string& to,
                  const std::vector<std::string>& files) {
  std::filesystem::create_directories(to);
  for (const std::string& f : files) {
    std::filesystem::copy_file(from + "/" + f, to + "/" + f,
                               std::filesystem::copy_options::overwrite_existing);
  }
}

bool Connected(Cluster& cluster, const std::string& name) {
  absl::StatusOr<v1::Agent> a = cluster.FindAgent(name);
  return a.ok() && a->connected();
}

TEST(AgentCertsE2eTest, TheCertificateIsTheIdentityAndIsRevoked) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  absl::StatusOr<int> worker = cluster.StartAgent({.name = "worker"});
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  const std::string work = cluster.agent_work_dir(*worker);
  absl::StatusOr<v1::Agent> agent = cluster.FindAgent("worker");
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string id = agent->id();

  // The key stays with the agent (0600); the certificate names the agent,
  // is signed by the controller's CA and is recorded with the agent's id.
  EXPECT_EQ(ModeOf(work + "/agent.key"), 0600);
  std::string cert = ReadFile(work + "/agent.crt").value_or("");
  std::string key = ReadFile(work + "/agent.key").value_or("");
  ASSERT_TRUE(tls::KeyMatchesCertificate(key, cert)) << cert;
  EXPECT_TRUE(tls::VerifyCertificate(cert, ReadFile(cluster.ca_file()).value_or("")).ok());
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(cert);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, id);
  std::vector<store::AgentCertificateRecord> rows = StoredCertificates(cluster);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].serial, info->serial_hex);
  EXPECT_EQ(rows[0].agent_id, id);
  EXPECT_EQ(rows[0].revoked_reason, "");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.data_dir())) {
    if (!entry.is_regular_file() || entry.file_size() > (1 << 20)) continue;
    EXPECT_FALSE(absl::StrContains(ReadFile(entry.path().string()).value_or(""), key))
        << "the agent's private key is on the controller: " << entry.path();
  }
  CopyIdentity(work, cluster.dir() + "/stolen", {"agent.json", "agent.key", "agent.crt"});

  // A copy of agent.json without the key: its token alone lets it nowhere.
  CopyIdentity(work, cluster.dir() + "/agents/copy", {"agent.json"});
  absl::StatusOr<int> copy = cluster.StartAgent({.name = "copy"});
  ASSERT_TRUE(copy.ok()) << copy.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster.ControllerLog(), "presented no client certificate") &&
               absl::StrContains(cluster.AgentLog(*copy), "controller rejected the credentials");
      },
      absl::Seconds(30)))
      << cluster.LogTails();
  EXPECT_FALSE(absl::StrContains(cluster.AgentLog(*copy), "connected to"))
      << cluster.AgentLog(*copy);
  cluster.KillAgent(*copy, SIGTERM);

  // A client certificate from another CA fails the TLS handshake.
  std::string other_key = *tls::GenerateKeyPem();
  std::string other_ca = *tls::MakeCaCertificate(other_key, "other", absl::Hours(1));
  tls::CertificateSpec spec;
  spec.common_name = id;
  spec.client = true;
  tls::ClientTls forged;
  forged.ca_pem = ReadFile(cluster.ca_file()).value_or("");
  forged.key_pem = *tls::GenerateKeyPem();
  forged.cert_chain_pem = *tls::SignCertificate(other_ca, other_key, forged.key_pem, spec);
  auto stub = v1::AgentService::NewStub(
      grpc::CreateChannel(cluster.controller_addr(), tls::MakeChannelCredentials(forged)));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::RegisterRequest req;
  v1::RegisterResponse resp;
  grpc::Status forged_status = stub->Register(&ctx, req, &resp);
  EXPECT_EQ(forged_status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << forged_status.error_message();

  // Disabling revokes: the open session ends with a clear line on both sides.
  CliResult disable = cluster.Cli({"agent", "disable", "worker"});
  ASSERT_EQ(disable.exit_code, 0) << disable.ToString();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster.AgentLog(*worker), "is revoked: agent disabled") &&
               !Connected(cluster, "worker");
      },
      absl::Seconds(30), absl::Milliseconds(100)))
      << cluster.LogTails();
  EXPECT_TRUE(absl::StrContains(cluster.ControllerLog(), "revoked: agent disabled"));
  EXPECT_TRUE(WaitFor([&] { return StoredCertificates(cluster)[0].revoked_reason != ""; },
                      absl::Seconds(10), absl::Milliseconds(100)));
  EXPECT_EQ(StoredCertificates(cluster)[0].revoked_reason, "agent disabled");

  // Enabling reinstates it: the agent, started again, connects.
  cluster.KillAgent(*worker, SIGTERM);
  CliResult enable = cluster.Cli({"agent", "enable", "worker"});
  ASSERT_EQ(enable.exit_code, 0) << enable.ToString();
  ASSERT_TRUE(cluster.RestartAgent(*worker).ok());
  ASSERT_TRUE(WaitFor([&] { return Connected(cluster, "worker"); }, absl::Seconds(30),
                      absl::Milliseconds(100)))
      << cluster.LogTails();
  EXPECT_TRUE(WaitFor([&] { return StoredCertificates(cluster)[0].revoked_reason == ""; },
                      absl::Seconds(10), absl::Milliseconds(100)));

  // Deleting revokes for good: the stolen copy, key and all, is refused.
  cluster.KillAgent(*worker, SIGTERM);
  CliResult del = cluster.Cli({"agent", "delete", "worker"});
  ASSERT_EQ(del.exit_code, 0) << del.ToString();
  std::string no_key = cluster.WriteFile("wrong.key", "not-the-key\n");
  CopyIdentity(cluster.dir() + "/stolen", cluster.dir() + "/agents/thief",
               {"agent.json", "agent.key", "agent.crt"});
  absl::StatusOr<int> thief = cluster.StartAgent({.name = "thief", .register_key_file = no_key});
  ASSERT_TRUE(thief.ok()) << thief.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(cluster.ControllerLog(),
                                 absl::StrCat("agent ", id, " was deleted; its certificate"));
      },
      absl::Seconds(30), absl::Milliseconds(100)))
      << cluster.LogTails();
  EXPECT_FALSE(Connected(cluster, "worker"));
  EXPECT_EQ(StoredCertificates(cluster)[0].revoked_reason, "agent deleted");

  // A running agent deleted by an admin registers again with its key and
  // connects with its new certificate at once, not after a refusal.
  absl::StatusOr<int> phoenix = cluster.StartAgent({.name = "phoenix"});
  ASSERT_TRUE(phoenix.ok()) << phoenix.status();
  ASSERT_TRUE(WaitFor([&] { return Connected(cluster, "phoenix"); }, absl::Seconds(30),
                      absl::Milliseconds(100)))
      << cluster.LogTails();
  const std::string first_id = cluster.FindAgent("phoenix")->id();
  ASSERT_EQ(cluster.Cli({"agent", "delete", "phoenix"}).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::Agent> a = cluster.FindAgent("phoenix");
        return a.ok() && a->id() != first_id && a->connected();
      },
      absl::Seconds(20), absl::Milliseconds(100)))
      << cluster.LogTails();
  EXPECT_FALSE(absl::StrContains(cluster.AgentLog(*phoenix), "rejected the credentials"))
      << cluster.AgentLog(*phoenix);
}

// Every stored secure value moves to a new key; the job sees the right
// values before and after, from the config and from a trigger-time --var
// stored before the rotation, also once the controller restarted.
TEST(AgentCertsE2eTest, RotateKeyKeepsPipelinesRunnable) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(cluster.StartAgent().ok());
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  const std::string password = absl::StrCat("pw-", RandomHex(8));
  const std::string override_pw = absl::StrCat("var-", RandomHex(8));
  // The job prints the value's digest: what it saw, without showing it.
  const std::string yaml = absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  vault:\n"
      "    group: e2e\n"
      "    secure_variables:\n"
      "      PASSWORD: ",
      password,
      "\n"
      "    stages:\n"
      "      - first:\n"
      "          jobs:\n"
      "            j: {tasks: [{exec: {command: /bin/true}}]}\n"
      "      - use:\n"
      "          approval: manual\n"
      "          jobs:\n"
      "            j:\n"
      "              tasks:\n"
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments: [-c, \"printf %s \\\"$PASSWORD\\\" | sha256sum\"]\n");
  std::string path = cluster.WriteFile("config/vault.gocd.yaml", yaml);
  CliResult apply = cluster.Cli({"config", "apply", "-f", path});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();
  const std::string old_key = ReadFile(cluster.data_dir() + "/cipher.key").value_or("");

  // A run holding a trigger-time secure value, waiting at its gate.
  CliResult held =
      cluster.Cli({"pipeline", "trigger", "vault", "--var", "PASSWORD=" + override_pw});
  ASSERT_EQ(held.exit_code, 0) << held.ToString();
  ASSERT_TRUE(cluster.WaitForRunState("vault/1", "awaiting_approval")) << cluster.LogTails();

  // Only admins rotate.
  CliResult token = cluster.Cli({"token", "create", "--user", "bob"});
  ASSERT_EQ(token.exit_code, 0) << token.ToString();
  std::string bob = cluster.WriteFile("bob.token", token.out);
  CliResult refused = cluster.Cli({"--token-file", bob, "secret", "rotate-key"});
  EXPECT_NE(refused.exit_code, 0) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "may not rotate the cipher key")) << refused.err;

  CliResult rotate = cluster.Cli({"-o", "json", "secret", "rotate-key"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.ToString() << cluster.LogTails();
  std::string new_key = ReadFile(cluster.data_dir() + "/cipher.key").value_or("");
  std::vector<std::string> lines = absl::StrSplit(new_key, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << "the new key first, the old one after it";
  EXPECT_EQ(lines[1] + "\n", old_key);
  EXPECT_EQ(ModeOf(cluster.data_dir() + "/cipher.key"), 0600);
  EXPECT_TRUE(std::regex_search(rotate.out, std::regex("\"runVariables\": [1-9]"))) << rotate.out;
  EXPECT_TRUE(absl::StrContains(rotate.out, "\"configFiles\": 1")) << rotate.out;
  std::string old_id, new_id;
  {
    std::smatch m;
    std::string out = rotate.out;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("\"oldKeyId\": \"([0-9a-f]{8})\"")));
    old_id = m[1];
    ASSERT_TRUE(std::regex_search(out, m, std::regex("\"newKeyId\": \"([0-9a-f]{8})\"")));
    new_id = m[1];
  }
  ASSERT_NE(old_id, new_id);

  // Nothing stored is under the old key any more.
  RunOptions run;
  run.timeout = absl::Seconds(60);
  absl::StatusOr<EmbeddedPostgres*> pg = SharedPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<RunResult> dump =
      RunCommand({(*pg)->bin_dir() + "/pg_dump", "-d", cluster.database_url()}, run);
  ASSERT_TRUE(dump.ok() && dump->success()) << (dump.ok() ? dump->err : dump.status().ToString());
  EXPECT_FALSE(absl::StrContains(dump->out, absl::StrCat("AES256GCM:", old_id, ":")));
  EXPECT_TRUE(absl::StrContains(dump->out, absl::StrCat("AES256GCM:", new_id, ":")));

  // The waiting run gets its trigger-time value, a new run the config's.
  ASSERT_EQ(cluster.Cli({"stage", "approve", "vault/1/use"}).exit_code, 0);
  ASSERT_TRUE(cluster.WaitForRunState("vault/1", "passed", kRunDeadline)) << cluster.LogTails();
  EXPECT_TRUE(
      absl::StrContains(cluster.JobLog("vault/1/use/1/j").value_or(""), Sha256Hex(override_pw)));
  auto run_config_value = [&](const std::string& run) {
    CliResult trigger = cluster.Cli({"pipeline", "trigger", "vault"});
    ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
    ASSERT_TRUE(cluster.WaitForRunState(run, "awaiting_approval")) << cluster.LogTails();
    ASSERT_EQ(cluster.Cli({"stage", "approve", run + "/use"}).exit_code, 0);
    ASSERT_TRUE(cluster.WaitForRunState(run, "passed", kRunDeadline)) << cluster.LogTails();
    EXPECT_TRUE(
        absl::StrContains(cluster.JobLog(run + "/use/1/j").value_or(""), Sha256Hex(password)))
        << cluster.JobLog(run + "/use/1/j").value_or("");
  };
  run_config_value("vault/2");

  // After a restart everything comes from the database and the key file,
  // which keeps only the new key: nothing stored needs the old one.
  std::ofstream(cluster.data_dir() + "/cipher.key", std::ios::trunc) << lines[0] << "\n";
  ASSERT_TRUE(cluster.RestartController().ok()) << cluster.LogTails();
  ASSERT_TRUE(cluster.WaitForIdleAgents()) << cluster.LogTails();
  run_config_value("vault/3");
  // The same file applied again is still the same config.
  CliResult again = cluster.Cli({"config", "apply", "-f", path});
  ASSERT_EQ(again.exit_code, 0) << again.ToString();
  EXPECT_TRUE(absl::StrContains(again.out, "unchanged")) << again.out;
  CliResult audit = cluster.Cli({"audit"});
  EXPECT_TRUE(absl::StrContains(audit.out, "secret.rotate-key")) << audit.out;
}

}  // namespace
}  // namespace gantry::e2e
