// One controller per data dir and per port: a second one is refused with a
// clear message and touches nothing of the first, which keeps serving.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/process/process.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

RunResult RunSecondController(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/gantry-controller"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.timeout = absl::Seconds(60);
  options.kill_on_parent_death = true;
  auto run = RunCommand(argv, options);
  EXPECT_TRUE(run.ok()) << run.status();
  return run.ok() ? *run : RunResult();
}

TEST(OwnershipTest, ASecondControllerOnTheSameDataDirIsRefused) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  RunResult second = RunSecondController(
      {"--data-dir", cluster.data_dir(), "--listen", "127.0.0.1:0", "--database-url",
       cluster.database_url()});
  EXPECT_FALSE(second.timed_out);
  EXPECT_EQ(second.term_signal, 0);
  EXPECT_NE(second.exit_code, 0);
  std::string output = second.out + second.err;
  EXPECT_TRUE(absl::StrContains(output, "another gantry-controller (pid "))
      << second.Describe() << "\n" << output;
  EXPECT_TRUE(absl::StrContains(output, cluster.data_dir())) << output;
  // The first still serves, at the address it wrote.
  CliResult list = cluster.Cli({"pipeline", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.ToString();
}

TEST(OwnershipTest, ASecondControllerOnAPortInUseIsRefused) {
  Cluster cluster;
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  Cluster other("ownership_other");
  std::string port = cluster.controller_addr().substr(cluster.controller_addr().rfind(':') + 1);
  RunResult second = RunSecondController({"--data-dir", other.data_dir(), "--listen",
                                          absl::StrCat("127.0.0.1:", port), "--database-url",
                                          other.database_url()});
  EXPECT_FALSE(second.timed_out);
  EXPECT_NE(second.exit_code, 0);
  std::string output = second.out + second.err;
  EXPECT_TRUE(absl::StrContains(output, absl::StrCat("cannot listen on 127.0.0.1:", port)))
      << second.Describe() << "\n" << output;
  // Every call still reaches the first controller.
  for (int i = 0; i < 10; ++i) {
    CliResult who = cluster.Cli({"whoami"});
    ASSERT_EQ(who.exit_code, 0) << who.ToString();
    EXPECT_TRUE(absl::StrContains(who.out, "admin")) << who.out;
  }
}

}  // namespace
}  // namespace gantry::e2e
