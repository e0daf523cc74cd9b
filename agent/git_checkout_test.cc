#include "agent/git_checkout.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/git/test_repo.h"
#include "gtest/gtest.h"

namespace gantry::agent {
namespace {

std::string TempRoot() {
  std::string tmpl = ::testing::TempDir() + "/checkoutXXXXXX";
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : "";
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Head(const std::string& dir) {
  git::GitOptions o;
  o.dir = dir;
  auto out = git::RunGit({"rev-parse", "HEAD"}, o);
  return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : "";
}

v1::Assign WithCheckout(const std::string& url, const std::string& rev, const std::string& dest,
                        bool shallow = false) {
  v1::Assign a;
  v1::GitCheckout* c = a.add_git_checkouts();
  c->set_material("src");
  c->set_url(url);
  c->set_branch("main");
  c->set_revision(rev);
  c->set_destination(dest);
  c->set_shallow(shallow);
  return a;
}

// The recorded revision is checked out, not the branch's tip; a later job
// moves the same directory to another commit and drops untracked files.
TEST(GitCheckoutTest, ChecksOutExactlyTheRecordedRevision) {
  std::string root = TempRoot();
  git::TestRepo repo(root, "r");
  std::string c1 = repo.Commit("one", "README", "one\n");
  std::string c2 = repo.Commit("two", "README", "two\n");
  CheckoutOptions options{root + "/agent"};
  std::string job = root + "/agent/pipelines/p";
  std::vector<std::string> said;
  auto say = [&](const std::string& l) { said.push_back(l); };

  ASSERT_TRUE(CheckoutMaterials(options, job, WithCheckout(repo.url(), c1, "code"), say).ok());
  EXPECT_EQ(Head(job + "/code"), c1);
  EXPECT_EQ(Read(job + "/code/README"), "one\n");
  ASSERT_FALSE(said.empty());
  EXPECT_TRUE(absl::StrContains(said.back(), "checked out src " + c1)) << said.back();

  std::ofstream(job + "/code/leftover") << "x";
  ASSERT_TRUE(CheckoutMaterials(options, job, WithCheckout(repo.url(), c2, "code"), say).ok());
  EXPECT_EQ(Head(job + "/code"), c2);
  EXPECT_EQ(Read(job + "/code/README"), "two\n");
  EXPECT_FALSE(std::filesystem::exists(job + "/code/leftover"));
}

// shallow_clone: only the one commit's objects are fetched into the cache.
TEST(GitCheckoutTest, ShallowFetchesOneCommit) {
  std::string root = TempRoot();
  git::TestRepo repo(root, "r");
  repo.Commit("one");
  std::string c2 = repo.Commit("two");
  CheckoutOptions options{root + "/agent"};
  std::string job = root + "/agent/pipelines/p";
  auto st = CheckoutMaterials(options, job, WithCheckout(repo.url(), c2, "", true),
                              [](const std::string&) {});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Head(job), c2);
  git::GitOptions o;
  o.dir = job;
  auto count = git::RunGit({"rev-list", "--count", "HEAD"}, o);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*count), "1");
}

// A repository that cannot be fetched fails with git's message, and a
// password in the URL is not in it.
TEST(GitCheckoutTest, FailureCarriesGitsMessageWithoutCredentials) {
  std::string root = TempRoot();
  CheckoutOptions options{root + "/agent"};
  options.timeout = absl::Seconds(20);
  std::string job = root + "/agent/pipelines/p";
  auto st = CheckoutMaterials(
      options, job, WithCheckout("file://" + root + "/missing.git", std::string(40, 'a'), "code"),
      [](const std::string&) {});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "material src: git fetch failed:")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "does not appear to be a git repository")) << st;

  st = CheckoutMaterials(
      options, job,
      WithCheckout("http://bob:s3cret@127.0.0.1:1/r.git", std::string(40, 'a'), "code"),
      [](const std::string&) {});
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(absl::StrContains(st.message(), "s3cret")) << st;
}

// clean_workspace empties the job directory, which stays.
TEST(GitCheckoutTest, CleanWorkspaceEmptiesTheDirectory) {
  std::string root = TempRoot();
  std::filesystem::create_directories(root + "/job/sub");
  std::ofstream(root + "/job/sub/f") << "x";
  std::ofstream(root + "/job/g") << "y";
  ASSERT_TRUE(CleanWorkspace(root + "/job").ok());
  EXPECT_TRUE(std::filesystem::exists(root + "/job"));
  EXPECT_TRUE(std::filesystem::is_empty(root + "/job"));
}

}  // namespace
}  // namespace gantry::agent
