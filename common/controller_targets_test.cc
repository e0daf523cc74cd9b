#include "common/controller_targets.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/tls/pki.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry {
namespace {

// A resolver answering from a table; names not in it do not resolve.
HostResolver Table(std::map<std::string, std::vector<std::string>> table) {
  return [table](const std::string& host) {
    auto it = table.find(host);
    return it == table.end() ? std::vector<std::string>{} : it->second;
  };
}

std::vector<std::string> TargetsOf(const std::vector<ControllerTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back(t.target);
  return out;
}

// One address that resolves to one IP is dialled as given, by its name.
TEST(ControllerTargetsTest, SingleAddressStaysAsGiven) {
  auto resolve = Table({{"ctl.example", {"10.0.0.1"}}});
  for (std::string value : {"ctl.example:8150", "127.0.0.1:8150", "localhost:8150", "[::1]:8150",
                            "unix:/tmp/gantry.sock", "nowhere.example:8150"}) {
    auto targets = ParseControllerTargets(value, resolve);
    ASSERT_TRUE(targets.ok()) << value << ": " << targets.status();
    ASSERT_EQ(targets->size(), 1u) << value;
    EXPECT_EQ((*targets)[0].target, value);
    EXPECT_EQ((*targets)[0].address, value);
    EXPECT_EQ((*targets)[0].tls_name, "");
    EXPECT_EQ((*targets)[0].Label(), value);
  }
}

// IP literals and localhost are never looked up.
TEST(ControllerTargetsTest, NumericAndLoopbackAreNotResolved) {
  int lookups = 0;
  HostResolver counting = [&](const std::string&) {
    ++lookups;
    return std::vector<std::string>{"10.9.9.9", "10.9.9.8"};
  };
  ASSERT_TRUE(ParseControllerTargets("10.0.0.1:1,[fd00::1]:2,localhost:3", counting).ok());
  EXPECT_EQ(lookups, 0);
}

// A list keeps its order; a name with several addresses becomes one target
// per address, verified against the name; duplicates are dropped.
TEST(ControllerTargetsTest, ListAndNameWithSeveralAddresses) {
  auto resolve = Table({{"ctl.example", {"10.0.0.1", "fd00::2"}}});
  auto targets = ParseControllerTargets(" a:8150 ,ctl.example:8151,a:8150", resolve);
  ASSERT_TRUE(targets.ok()) << targets.status();
  EXPECT_EQ(TargetsOf(*targets),
            (std::vector<std::string>{"a:8150", "ipv4:10.0.0.1:8151", "ipv6:[fd00::2]:8151"}));
  EXPECT_EQ((*targets)[1].address, "ctl.example:8151");
  EXPECT_EQ((*targets)[1].tls_name, "ctl.example");
  EXPECT_EQ((*targets)[2].tls_name, "ctl.example");
  EXPECT_EQ((*targets)[1].Label(), "ctl.example:8151 (10.0.0.1)");
  EXPECT_EQ((*targets)[2].Label(), "ctl.example:8151 (fd00::2)");
}

// The system resolver really resolves: localhost's loopback addresses.
TEST(ControllerTargetsTest, SystemResolverFindsLoopback) {
  std::vector<std::string> ips = SystemResolver()("127.0.0.1");
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_EQ(ips[0], "127.0.0.1");
  EXPECT_TRUE(SystemResolver()("no-such-host.invalid").empty());
}

// A bad entry is named, with the whole value when there are several.
TEST(ControllerTargetsTest, BadEntriesAreNamed) {
  auto one = ParseControllerTargets("a:99999", Table({}));
  EXPECT_EQ(one.status().message(), "bad controller address 'a:99999': expected HOST:PORT");
  auto list = ParseControllerTargets("a:8150,b", Table({}));
  EXPECT_EQ(list.status().message(),
            "bad controller address 'b' in 'a:8150,b': expected HOST:PORT");
  EXPECT_FALSE(ParseControllerTargets("a:8150,", Table({})).ok());
  EXPECT_FALSE(ParseControllerTargets("", Table({})).ok());
  EXPECT_FALSE(ParseControllerTargets("::1:8150", Table({})).ok());
  EXPECT_FALSE(ParseControllerTargets("a b:8150", Table({})).ok());
  EXPECT_FALSE(ParseControllerTargets("a:0", Table({})).ok());
}

// `rewrite` applies to each entry before it is checked.
TEST(ControllerTargetsTest, RewriteEachEntry) {
  auto targets = ParseControllerTargets("0.0.0.0:1,b:2", Table({}), [](const std::string& e) {
    return e == "0.0.0.0:1" ? std::string("127.0.0.1:1") : e;
  });
  ASSERT_TRUE(targets.ok());
  EXPECT_EQ(TargetsOf(*targets), (std::vector<std::string>{"127.0.0.1:1", "b:2"}));
}

TEST(ControllerTargetsTest, LeaderNamedInRefusal) {
  EXPECT_EQ(LeaderNamedIn("not the leader (leader at b:8150)"), "b:8150");
  EXPECT_EQ(LeaderNamedIn("UNAVAILABLE: not the leader (leader at [::1]:9)"), "[::1]:9");
  EXPECT_EQ(LeaderNamedIn("not the leader (no leader yet)"), "");
  EXPECT_EQ(LeaderNamedIn("connection refused"), "");
  EXPECT_TRUE(IsNotLeader("not the leader (no leader yet)"));
  EXPECT_FALSE(IsNotLeader("failed to connect to all addresses"));
}

// A named leader maps to the known target (keeping the name's certificate
// check), else to a new one.
TEST(ControllerTargetsTest, TargetForLeader) {
  auto resolve = Table({{"ctl.example", {"10.0.0.1", "10.0.0.2"}}});
  auto known = *ParseControllerTargets("ctl.example:8150", resolve);
  ControllerTarget second = TargetForLeader(known, "10.0.0.2:8150");
  EXPECT_EQ(second.target, "ipv4:10.0.0.2:8150");
  EXPECT_EQ(second.tls_name, "ctl.example");
  ControllerTarget third = TargetForLeader(known, "10.0.0.3:8150");
  EXPECT_EQ(third.target, "10.0.0.3:8150");
  EXPECT_EQ(third.tls_name, "ctl.example");
  auto list = *ParseControllerTargets("a:1,b:2", resolve);
  EXPECT_EQ(TargetForLeader(list, "b:2").target, "b:2");
  ControllerTarget other = TargetForLeader(list, "c:3");
  EXPECT_EQ(other.target, "c:3");
  EXPECT_EQ(other.tls_name, "");
}

// Round robin after failures; a named leader first, then back to the list.
TEST(ControllerTargetsTest, RotationFollowsTheNamedLeader) {
  ControllerRotation rotation(*ParseControllerTargets("a:1,b:2,c:3", Table({})));
  EXPECT_EQ(rotation.current().target, "a:1");
  rotation.Advance("failed to connect to all addresses");
  EXPECT_EQ(rotation.current().target, "b:2");
  rotation.Advance("not the leader (leader at a:1)");
  EXPECT_EQ(rotation.current().target, "a:1");
  rotation.Advance("not the leader (no leader yet)");
  EXPECT_EQ(rotation.current().target, "b:2");
  rotation.Advance("not the leader (leader at d:4)");
  EXPECT_EQ(rotation.current().target, "d:4");
  rotation.Advance("connection refused");
  EXPECT_EQ(rotation.current().target, "c:3");
  rotation.Advance("");
  EXPECT_EQ(rotation.current().target, "a:1");

  ControllerRotation single(*ParseControllerTargets("a:1", Table({})));
  single.Advance("connection refused");
  EXPECT_EQ(single.current().target, "a:1");
}

// A target that is an address of a name is dialled by the address and
// its certificate checked against the name: a real TLS handshake with a
// server whose certificate names only ctl.example.
TEST(ControllerTargetsTest, CertificateIsCheckedAgainstTheName) {
  auto ca_key = tls::GenerateKeyPem();
  ASSERT_TRUE(ca_key.ok());
  auto ca = tls::MakeCaCertificate(*ca_key, "test CA", absl::Hours(1));
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto key = tls::GenerateKeyPem();
  ASSERT_TRUE(key.ok());
  auto cert = tls::SignCertificate(*ca, *ca_key, *key,
                                   {.common_name = "ctl.example",
                                    .alt_names = {"ctl.example"},
                                    .server = true,
                                    .validity = absl::Hours(1)});
  ASSERT_TRUE(cert.ok()) << cert.status();
  grpc::SslServerCredentialsOptions server_options;
  server_options.pem_key_cert_pairs.push_back({*key, *cert});
  // Every method UNIMPLEMENTED: an answer at all means the handshake passed.
  gantry::v1::OperatorService::Service service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(server_options), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string ip_target = absl::StrCat("ipv4:127.0.0.1:", port);
  auto connects = [&](const ControllerTarget& target) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = DialController(target, {.ca_pem = *ca}, args);
    auto stub = gantry::v1::OperatorService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    gantry::v1::LeaderInfo info;
    grpc::Status status = stub->GetLeader(&context, gantry::v1::GetLeaderRequest(), &info);
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    return status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
  };
  EXPECT_TRUE(connects({ip_target, "ctl.example:1", "ctl.example"}));
  EXPECT_FALSE(connects({ip_target, "other.example:1", "other.example"}));
  EXPECT_FALSE(connects({ip_target, ip_target, ""}));
  server->Shutdown(absl::ToChronoTime(absl::Now()));
}

}  // namespace
}  // namespace gantry
