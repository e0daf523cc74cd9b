#include "cli/connection.h"

#include <gtest/gtest.h>

#include "cli/test_util.h"
#include "common/files.h"

namespace gantry::cli {
namespace {

using testing::MakeTempDir;
using testing::MapEnv;

// With nothing configured the CLI dials the default port without a token.
TEST(ResolveConnectionTest, DefaultsWhenNothingIsSet) {
  std::string dir = MakeTempDir();
  auto s = ResolveConnection({}, MapEnv({{"GANTRY_DATA_DIR", dir}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->address, "127.0.0.1:8150");
  EXPECT_EQ(s->token, "");
}

// The data dir's controller.addr and admin.token are used, trimmed, and a
// wildcard listen address becomes loopback.
TEST(ResolveConnectionTest, ReadsDataDirFiles) {
  std::string dir = MakeTempDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/controller.addr", "0.0.0.0:9001\n").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/admin.token", "  tok-from-dir\n").ok());
  auto s = ResolveConnection({}, MapEnv({{"GANTRY_DATA_DIR", dir}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->address, "127.0.0.1:9001");
  EXPECT_EQ(s->token, "tok-from-dir");
  EXPECT_EQ(s->token_source, dir + "/admin.token");
}

// The CA: --ca-file, then $GANTRY_CA_FILE, then DATA_DIR/tls/ca.crt, then
// the system's; plaintext only for a loopback controller.
TEST(ResolveConnectionTest, TlsTrust) {
  std::string dir = MakeTempDir();
  auto none = ResolveConnection({}, MapEnv({{"GANTRY_DATA_DIR", dir}}));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->insecure);
  EXPECT_EQ(none->ca_pem, "");
  EXPECT_EQ(none->ca_source, "the system's CA certificates");

  ASSERT_TRUE(MakeDirs(dir + "/tls").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/tls/ca.crt", "dir-ca").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/env.crt", "env-ca").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/flag.crt", "flag-ca").ok());
  auto from_dir = ResolveConnection({}, MapEnv({{"GANTRY_DATA_DIR", dir}}));
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  EXPECT_EQ(from_dir->ca_pem, "dir-ca");
  auto env = MapEnv({{"GANTRY_DATA_DIR", dir}, {"GANTRY_CA_FILE", dir + "/env.crt"}});
  EXPECT_EQ(ResolveConnection({}, env)->ca_pem, "env-ca");
  ConnectionFlags flags;
  flags.ca_file = dir + "/flag.crt";
  EXPECT_EQ(ResolveConnection(flags, env)->ca_pem, "flag-ca");
  flags.ca_file = dir + "/missing.crt";
  EXPECT_FALSE(ResolveConnection(flags, env).ok());

  auto plain = ResolveConnection(
      {}, MapEnv({{"GANTRY_DATA_DIR", dir}, {"GANTRY_INSECURE", "1"}}));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->insecure);
  ConnectionFlags remote;
  remote.controller = "ci.example.com:8150";
  remote.insecure = true;
  auto refused = ResolveConnection(remote, MapEnv({{"GANTRY_DATA_DIR", dir}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("only for a controller on loopback"),
            std::string::npos)
      << refused.status();
}

// Environment variables beat the data dir; flags beat the environment.
TEST(ResolveConnectionTest, Precedence) {
  std::string dir = MakeTempDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/controller.addr", "dirhost:1\n").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/admin.token", "dir-token").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/other.token", "file-token\n").ok());
  auto env = MapEnv({{"GANTRY_DATA_DIR", dir},
                     {"GANTRY_CONTROLLER", "envhost:2"},
                     {"GANTRY_TOKEN", "env-token"}});

  auto from_env = ResolveConnection({}, env);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->address, "envhost:2");
  EXPECT_EQ(from_env->token, "env-token");
  EXPECT_EQ(from_env->token_source, "$GANTRY_TOKEN");

  auto from_flags = ResolveConnection({"flaghost:3", "flag-token", ""}, env);
  ASSERT_TRUE(from_flags.ok());
  EXPECT_EQ(from_flags->address, "flaghost:3");
  EXPECT_EQ(from_flags->token, "flag-token");

  auto from_token_file = ResolveConnection({"", "", dir + "/other.token"}, env);
  ASSERT_TRUE(from_token_file.ok());
  EXPECT_EQ(from_token_file->token, "file-token");
  EXPECT_EQ(from_token_file->address, "envhost:2");
}

// $GANTRY_DATA_DIR unset means ./gantry-data, and a missing data dir is fine.
TEST(ResolveConnectionTest, MissingDataDirIsNotAnError) {
  auto s =
      ResolveConnection({}, MapEnv({{"GANTRY_DATA_DIR", "/nonexistent/x"}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->address, kDefaultControllerAddress);
}

// An explicit --token-file that cannot be read or is empty is an error.
TEST(ResolveConnectionTest, BadTokenFile) {
  std::string dir = MakeTempDir();
  auto env = MapEnv({{"GANTRY_DATA_DIR", dir}});
  auto missing = ResolveConnection({"", "", dir + "/nope"}, env);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find(dir + "/nope"), std::string::npos);

  ASSERT_TRUE(WriteFileAtomic(dir + "/empty", "\n").ok());
  auto empty = ResolveConnection({"", "", dir + "/empty"}, env);
  EXPECT_FALSE(empty.ok());
}

// A token that could not travel as a header is refused before dialing.
TEST(ResolveConnectionTest, UnsendableToken) {
  auto s = ResolveConnection({"", "a\001b", ""}, MapEnv({}));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

// A malformed address is refused and names where it came from.
TEST(ResolveConnectionTest, BadAddress) {
  auto s = ResolveConnection({}, MapEnv({{"GANTRY_CONTROLLER", "nohostport"},
                                         {"GANTRY_DATA_DIR", "/nonexistent"}}));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "bad controller address 'nohostport': expected HOST:PORT (from "
            "$GANTRY_CONTROLLER)");
}

TEST(ValidateAddressTest, Shapes) {
  EXPECT_TRUE(ValidateAddress("localhost:8150").ok());
  EXPECT_TRUE(ValidateAddress("10.0.0.1:1").ok());
  EXPECT_TRUE(ValidateAddress("[::1]:8150").ok());
  EXPECT_TRUE(ValidateAddress("unix:/run/gantry.sock").ok());
  EXPECT_FALSE(ValidateAddress("").ok());
  EXPECT_FALSE(ValidateAddress("host").ok());
  EXPECT_FALSE(ValidateAddress("host:").ok());
  EXPECT_FALSE(ValidateAddress(":8150").ok());
  EXPECT_FALSE(ValidateAddress("host:0").ok());
  EXPECT_FALSE(ValidateAddress("host:65536").ok());
  EXPECT_FALSE(ValidateAddress("host:80x").ok());
  EXPECT_FALSE(ValidateAddress("::1:8150").ok());
  EXPECT_FALSE(ValidateAddress("http://host:80").ok());
  EXPECT_FALSE(ValidateAddress("ho st:80").ok());
}

}  // namespace
}  // namespace gantry::cli
