// Local halves of artifact transfers, no gRPC: which files an ArtifactSpec
// uploads and under which paths, and how fetched files are checked and
// placed; traversal refused both ways.
#include "agent/artifact_sources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/artifact_fetch_writer.h"
#include "agent/artifact_fs.h"
#include "common/crypto.h"
#include "common/files.h"

namespace gantry::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ArtifactLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gantry-artifact-local-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    ASSERT_TRUE(MakeDirs(top_ + "/job").ok());
    ASSERT_TRUE(MakeDirs(top_ + "/outside").ok());
    Write(top_ + "/outside/secret", "secret");
    root_ = *RealPath(top_ + "/job");
  }
  void TearDown() override { fs::remove_all(top_); }

  void Write(const std::string& path, const std::string& data) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << data;
  }
  void File(const std::string& rel, const std::string& data = "x") {
    Write(root_ + "/" + rel, data);
  }
  void Link(const std::string& target, const std::string& rel) {
    fs::create_directories(fs::path(root_ + "/" + rel).parent_path());
    ASSERT_EQ(::symlink(target.c_str(), (root_ + "/" + rel).c_str()), 0);
  }

  absl::StatusOr<std::vector<ArtifactItem>> Expand(const std::string& source,
                                                   const std::string& dest) {
    gantry::v1::ArtifactSpec spec;
    spec.set_source(source);
    spec.set_destination(dest);
    return ExpandArtifactSpec(root_, spec);
  }
  // "artifact_path<-local path relative to the root".
  std::vector<std::string> Paths(const std::string& source,
                                 const std::string& dest) {
    auto items = Expand(source, dest);
    EXPECT_TRUE(items.ok()) << items.status();
    std::vector<std::string> out;
    if (!items.ok()) return out;
    for (const auto& i : *items) {
      out.push_back(i.artifact_path + "<-" +
                    i.local_path.substr(root_.size() + 1));
    }
    return out;
  }
  std::vector<std::string> Listing(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      out.push_back(fs::relative(e.path(), dir).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string top_;
  std::string root_;
};

// A file goes to destination/name; a directory brings every file below it
// under its own name; kind defaults to "build".
TEST_F(ArtifactLocalTest, FileAndDirectory) {
  File("target/app.jar");
  File("target/site/index.html");
  File("target/site/css/a.css");
  EXPECT_THAT(Paths("target/app.jar", "pkg"),
              ElementsAre("pkg/app.jar<-target/app.jar"));
  EXPECT_THAT(Paths("./target//app.jar", ""),
              ElementsAre("app.jar<-target/app.jar"));
  EXPECT_THAT(Paths("target/site", ""),
              ElementsAre("site/css/a.css<-target/site/css/a.css",
                          "site/index.html<-target/site/index.html"));
  EXPECT_THAT(Paths("target/site/", "docs/v1"),
              ElementsAre("docs/v1/site/css/a.css<-target/site/css/a.css",
                          "docs/v1/site/index.html<-target/site/index.html"));
  EXPECT_EQ((*Expand("target/app.jar", ""))[0].kind, "build");
}

// Globs store each match by its path below the glob's fixed prefix (for one
// `*`, its name); `**` spans directories; a matched directory is recursive.
TEST_F(ArtifactLocalTest, Globs) {
  File("target/a.jar");
  File("target/b.jar");
  File("target/c.txt");
  File("target/.hidden.jar");
  File("target/x/r1.xml");
  File("target/x/y/r2.xml");
  File("target/r0.xml");
  File("target/docs/readme.md");
  EXPECT_THAT(
      Paths("target/*.jar", "lib"),
      ElementsAre("lib/.hidden.jar<-target/.hidden.jar",
                  "lib/a.jar<-target/a.jar", "lib/b.jar<-target/b.jar"));
  EXPECT_THAT(Paths("target/?.jar", ""),
              ElementsAre("a.jar<-target/a.jar", "b.jar<-target/b.jar"));
  EXPECT_THAT(Paths("target/**/*.xml", "reports"),
              ElementsAre("reports/r0.xml<-target/r0.xml",
                          "reports/x/r1.xml<-target/x/r1.xml",
                          "reports/x/y/r2.xml<-target/x/y/r2.xml"));
  EXPECT_THAT(Paths("target/d*", ""),
              ElementsAre("docs/readme.md<-target/docs/readme.md"));
  EXPECT_THAT(Paths("target/x/**", "all"),
              ElementsAre("all/r1.xml<-target/x/r1.xml",
                          "all/y/r2.xml<-target/x/y/r2.xml"));
  EXPECT_THAT(Paths("*/x/y/*.xml", ""),
              ElementsAre("target/x/y/r2.xml<-target/x/y/r2.xml"));
}

// A source that matches nothing is NOT_FOUND with the message the job shows.
TEST_F(ArtifactLocalTest, MatchedNothing) {
  File("target/a.jar");
  for (const char* source :
       {"nope", "target/*.war", "missing/*.jar", "target/**/*.war"}) {
    auto r = Expand(source, "");
    ASSERT_FALSE(r.ok()) << source;
    EXPECT_TRUE(absl::IsNotFound(r.status())) << source;
    EXPECT_EQ(r.status().message(),
              absl::StrCat("artifact source '", source, "' matched nothing"));
  }
}

// Absolute and ".." sources and destinations are refused before any lookup.
TEST_F(ArtifactLocalTest, TraversalInSpecRefused) {
  File("target/a.jar");
  auto abs = Expand(top_ + "/outside/secret", "");
  EXPECT_THAT(abs.status().message(), HasSubstr("is absolute"));
  auto up = Expand("../outside/secret", "");
  EXPECT_THAT(up.status().message(),
              HasSubstr("artifact source '../outside/secret' is refused"));
  auto dest = Expand("target/a.jar", "../x");
  EXPECT_THAT(dest.status().message(),
              HasSubstr("artifact destination '../x' is refused"));
  auto dest_abs = Expand("target/a.jar", "/x");
  EXPECT_FALSE(dest_abs.ok());
}

// A symlink that leads out of the working directory is refused, as a source,
// inside a directory source, or matched by a glob; links that stay inside are
// followed and a link cycle ends.
TEST_F(ArtifactLocalTest, SymlinksOutRefused) {
  Link(top_ + "/outside/secret", "direct");
  Link(top_ + "/outside", "dirlink");
  File("out/ok.txt");
  Link(top_ + "/outside/secret", "out/sneaky");
  File("in/real.txt");
  Link(root_ + "/in/real.txt", "in2/alias.txt");
  Link("..", "in/loop");

  for (const char* source : {"direct", "dirlink/secret", "out", "out/*"}) {
    auto r = Expand(source, "");
    ASSERT_FALSE(r.ok()) << source;
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << source << r.status();
    EXPECT_THAT(r.status().message(),
                HasSubstr("outside the job's working directory; refused"));
  }
  EXPECT_THAT(Paths("in2/alias.txt", ""),
              ElementsAre("alias.txt<-in/real.txt"));
  // The loop points at the root: its files are found once per walk level but
  // the walk ends.
  auto looped = Expand("in", "");
  ASSERT_FALSE(looped.ok());  // the loop reaches `direct`, which leads out
  EXPECT_TRUE(absl::IsPermissionDenied(looped.status()));
  File("cyc/a.txt");
  Link(".", "cyc/self");
  EXPECT_THAT(Paths("cyc", ""), ElementsAre("cyc/a.txt<-cyc/a.txt"));
}

// Wildcards match within one component; other characters are literal.
TEST(MatchGlobComponentTest, Basics) {
  EXPECT_TRUE(MatchGlobComponent("*", "abc"));
  EXPECT_TRUE(MatchGlobComponent("*", ".hidden"));
  EXPECT_TRUE(MatchGlobComponent("a*c", "abbbc"));
  EXPECT_TRUE(MatchGlobComponent("a?c", "abc"));
  EXPECT_FALSE(MatchGlobComponent("a?c", "ac"));
  EXPECT_TRUE(MatchGlobComponent("*.tar.gz", "x.tar.gz"));
  EXPECT_FALSE(MatchGlobComponent("*.tar.gz", "x.tar"));
  EXPECT_TRUE(MatchGlobComponent("[ab]", "[ab]"));
  EXPECT_FALSE(MatchGlobComponent("[ab]", "a"));
  EXPECT_TRUE(MatchGlobComponent("**", "x"));
}

class FetchWriterTest : public ArtifactLocalTest {
 protected:
  gantry::v1::ArtifactFile Header(const std::string& path,
                                  const std::string& data,
                                  bool executable = false) {
    gantry::v1::ArtifactFile f;
    f.set_path(path);
    f.set_size(static_cast<int64_t>(data.size()));
    f.set_sha256(Sha256Hex(data));
    f.set_executable(executable);
    return f;
  }
};

// Verified files land under the destination, executable bit kept.
TEST_F(FetchWriterTest, WritesVerifiedFiles) {
  FetchWriter w(root_, "deps", "up/1/build/1/compile");
  ASSERT_TRUE(w.BeginFile(Header("out/a/b.txt", "hello", true)).ok());
  ASSERT_TRUE(w.Append("hel").ok());
  ASSERT_TRUE(w.Append("lo").ok());
  ASSERT_TRUE(w.BeginFile(Header("out/empty", "")).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.files(), 2);
  EXPECT_EQ(w.bytes(), 5);
  EXPECT_EQ(*ReadFile(root_ + "/deps/out/a/b.txt"), "hello");
  EXPECT_EQ(*ReadFile(root_ + "/deps/out/empty"), "");
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/deps/out/a/b.txt").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  ASSERT_EQ(::stat((root_ + "/deps/out/empty").c_str(), &st), 0);
  EXPECT_FALSE(st.st_mode & S_IXUSR);
  EXPECT_THAT(Listing(root_ + "/deps"),
              ElementsAre("out", "out/a", "out/a/b.txt", "out/empty"));
}

// A corrupted or truncated file fails with the checksum/size message and
// leaves neither the file nor its temporary behind; an older copy stays.
TEST_F(FetchWriterTest, MismatchLeavesNothing) {
  File("app.tar", "previous");
  {
    FetchWriter w(root_, "", "up/1/build/1/compile");
    auto h = Header("app.tar", "good data");
    ASSERT_TRUE(w.BeginFile(h).ok());
    ASSERT_TRUE(w.Append("evil data").ok());
    absl::Status s = w.Finish();
    EXPECT_TRUE(absl::IsDataLoss(s));
    EXPECT_EQ(
        s.message(),
        absl::StrCat("checksum mismatch for app.tar fetched from "
                     "up/1/build/1/compile: expected ",
                     Sha256Hex("good data"), ", got ", Sha256Hex("evil data")));
  }
  {
    FetchWriter w(root_, "", "L");
    ASSERT_TRUE(w.BeginFile(Header("short", "12345")).ok());
    ASSERT_TRUE(w.Append("12").ok());
    EXPECT_EQ(
        w.Finish().message(),
        "size mismatch for short fetched from L: expected 5 bytes, got 2");
  }
  {
    FetchWriter w(root_, "", "L");
    ASSERT_TRUE(w.BeginFile(Header("long", "12")).ok());
    EXPECT_THAT(w.Append("123").message(), HasSubstr("got more"));
  }
  {
    // Destroyed mid-file (stream broke): the temporary goes too.
    FetchWriter w(root_, "", "L");
    ASSERT_TRUE(w.BeginFile(Header("partial", "12345")).ok());
    ASSERT_TRUE(w.Append("12").ok());
  }
  EXPECT_THAT(Listing(root_), ElementsAre("app.tar"));
  EXPECT_EQ(*ReadFile(root_ + "/app.tar"), "previous");
}

// Header paths with "..", absolute paths, and writes through a symlink that
// leads out are refused; nothing appears outside.
TEST_F(FetchWriterTest, TraversalRefused) {
  Link(top_ + "/outside", "dest/escape");
  for (const char* bad : {"../evil", "a/../../evil", "/tmp/evil", "escape/x"}) {
    FetchWriter w(root_, "dest", "L");
    absl::Status s = w.BeginFile(Header(bad, "x"));
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(absl::IsPermissionDenied(s)) << bad << ": " << s;
  }
  auto out = MakeDirsInside(root_, "dest/escape/sub");
  EXPECT_TRUE(absl::IsPermissionDenied(out.status()));
  EXPECT_THAT(out.status().message(),
              HasSubstr("symbolic link that leads out of the job's working "
                        "directory"));
  EXPECT_THAT(Listing(top_ + "/outside"), ElementsAre("secret"));
  // A link that stays inside is fine.
  ASSERT_TRUE(MakeDirs(root_ + "/real").ok());
  Link(root_ + "/real", "dest/inside");
  FetchWriter w(root_, "dest", "L");
  ASSERT_TRUE(w.BeginFile(Header("inside/f", "x")).ok());
  ASSERT_TRUE(w.Append("x").ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(*ReadFile(root_ + "/real/f"), "x");
}

}  // namespace
}  // namespace gantry::agent
