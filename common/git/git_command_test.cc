#include "common/git/git_command.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/git/test_repo.h"
#include "gtest/gtest.h"

namespace gantry::git {
namespace {

std::string TempRoot() {
  std::string tmpl = ::testing::TempDir() + "/gitcmdXXXXXX";
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : "";
}

// Credentials in a URL never reach a message: the user info is replaced.
TEST(RedactUrlTest, HidesUserInfo) {
  EXPECT_EQ(RedactUrl("https://bob:s3cret@git.example.com/r.git"),
            "https://***@git.example.com/r.git");
  EXPECT_EQ(RedactUrl("https://token@git.example.com/r.git"), "https://***@git.example.com/r.git");
  EXPECT_EQ(RedactUrl("https://git.example.com/a@b.git"), "https://git.example.com/a@b.git");
  EXPECT_EQ(RedactUrl("git@github.com:o/r.git"), "git@github.com:o/r.git");
  EXPECT_EQ(RedactText("fatal: unable to access 'https://bob:s3cret@h/r.git/': 403"),
            "fatal: unable to access 'https://***@h/r.git/': 403");
}

// The log format and its parser agree, subjects with odd characters included.
TEST(RunGitTest, LogOfABareRepository) {
  std::string root = TempRoot();
  TestRepo repo(root, "r");
  std::string first = repo.Commit("first | with \"quotes\"");
  std::string second = repo.Commit("second", "a/b.txt", "x", "", "Bob B <bob@example.com>");
  GitOptions o;
  o.dir = repo.bare_path();
  std::vector<std::string> args{"log"};
  for (auto& a : LogFormatArgs()) args.push_back(a);
  args.push_back("main");
  auto out = RunGit(args, o);
  ASSERT_TRUE(out.ok()) << out.status();
  auto commits = ParseLog(*out);
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].sha, second);
  EXPECT_EQ(commits[0].author, "Bob B <bob@example.com>");
  EXPECT_EQ(commits[0].message, "second");
  EXPECT_GT(commits[0].time_unix, 1600000000);
  EXPECT_EQ(commits[1].sha, first);
  EXPECT_EQ(commits[1].message, "first | with \"quotes\"");
  EXPECT_TRUE(IsFullSha(first));
  EXPECT_FALSE(IsFullSha(first.substr(0, 12)));
}

// A failing command's error quotes git's stderr.
TEST(RunGitTest, FailureCarriesGitsMessage) {
  std::string root = TempRoot();
  auto out = RunGit({"ls-remote", absl::StrCat("file://", root, "/missing.git")});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("git ls-remote failed"), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("does not appear to be a git repository"),
            std::string::npos)
      << out.status();
}

// A remote that accepts the connection and never answers is cut off by the
// timeout instead of hanging the caller.
TEST(RunGitTest, HangingRemoteTimesOut) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  GitOptions o;
  o.timeout = absl::Milliseconds(800);
  auto out =
      RunGit({"ls-remote", absl::StrCat("git://127.0.0.1:", ntohs(addr.sin_port), "/r.git")}, o);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status())) << out.status();
  close(fd);
}

}  // namespace
}  // namespace gantry::git
