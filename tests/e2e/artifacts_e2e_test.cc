// End-to-end: artifacts, fetch and console logs (issue 4), through the real
// controller, agents and CLI on a real PostgreSQL.
//
//   BigArtifactFetchedByDownstreamIsByteForByteEqual  200 MB upload + fetch
//   CorruptedStoredArtifactFailsFetchAndGet           checksum errors
//   AncestorFetchUsesRunRecordedInBuildCause          a/b path, never "newest"
//   FollowShowsLinesBeforeJobEnds                     job log --follow is live
//   TraversalIsRefused                                .., symlinks, get ../x
//   ConsoleCapTruncatesWithMarker                     --max-console-mib 1
//   ExamplesRun                                       examples/*.gocd.yaml
//   ArtifactResilienceE2eTest.*                       issue 11 point 9 (below)
//
// Only the harness's basic API is used (Cluster, Cli, WriteFile, WaitFor);
// the helpers below are local to this file.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/process/process.h"
#include "gantry/v1/operator.pb.h"
#include "common/testing/wait_for.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

// ASan (deploy/test.sh --sanitize) keeps freed memory in its quarantine and
// adds shadow memory: there, peak RSS says nothing about buffering.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPeakRssMeaningful = false;
#else
constexpr bool kPeakRssMeaningful = true;
#endif

namespace fs = std::filesystem;

constexpr absl::Duration kRunDeadline = absl::Seconds(90);

// --- YAML building blocks. Layout: pipelines at 2, stage list items at 6,
// jobs at 12, job keys at 14, task items at 16.

// A `/bin/sh -c SCRIPT` exec task (a task list item at indent 16); the
// script is a YAML literal block, so it may hold any characters.
std::string ShTask(const std::string& script) {
  std::string out =
      "                - exec:\n"
      "                    command: /bin/sh\n"
      "                    arguments:\n"
      "                      - -c\n"
      "                      - |\n";
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    if (line.empty()) continue;
    absl::StrAppend(&out, "                        ", line, "\n");
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename Message>
bool Parse(const std::string& json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, message, options)
      .ok();
}

// Runs a local command (sha256sum, cmp...) with a deadline.
RunResult Sh(const std::string& script,
             absl::Duration timeout = absl::Seconds(60)) {
  RunOptions options;
  options.timeout = timeout;
  absl::StatusOr<RunResult> r = RunCommand({"/bin/sh", "-c", script}, options);
  if (!r.ok()) {
    RunResult failed;
    failed.err = r.status().ToString();
    return failed;
  }
  return *r;
}

// The first word of `sha256sum FILE`.
std::string Sha256Of(const std::string& path) {
  RunResult r = Sh("sha256sum " + ShellQuote(path));
  if (!r.success()) return "error: " + r.Describe() + " " + r.err;
  return std::string(r.out.substr(0, r.out.find(' ')));
}

// Names of the regular files below `dir` (relative), sorted; hidden ones too.
std::vector<std::string> FilesBelow(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) || it->is_symlink(ec)) {
      out.push_back(fs::relative(it->path(), dir).string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Peak resident set (VmHWM, KiB) of the running process whose command line
// holds `binary` (its argv[0] ends with it) and `marker`; -1 if none.
int64_t PeakRssKiB(const std::string& binary, const std::string& marker) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string cmdline = ReadAll(entry.path().string() + "/cmdline");
    if (cmdline.empty()) continue;
    std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
    if (!absl::EndsWith(argv0, "/" + binary)) continue;
    if (!absl::StrContains(cmdline, marker)) continue;
    std::istringstream status(ReadAll(entry.path().string() + "/status"));
    for (std::string line; std::getline(status, line);) {
      absl::string_view rest = line;
      if (!absl::ConsumePrefix(&rest, "VmHWM:")) continue;
      int64_t kib = -1;
      if (absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(rest),
                                             " kB"),
                           &kib)) {
        return kib;
      }
    }
  }
  return -1;
}

// The source tree's examples/: found from this file's path (relative to the
// build dir when the compiler was given a relative one), else by walking up
// from the binaries' directory.
std::string ExamplesDir() {
  std::vector<fs::path> candidates;
  fs::path self(__FILE__);
  const fs::path build = fs::path(BinDir()).parent_path();
  candidates.push_back((self.is_absolute() ? self : build / self)
                           .parent_path() / ".." / ".." / "examples");
  for (fs::path p = build; !p.empty() && p != p.root_path();
       p = p.parent_path()) {
    candidates.push_back(p / "examples");
  }
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (fs::exists(c / "hotfix.gocd.yaml", ec)) {
      return c.lexically_normal().string();
    }
  }
  return candidates.front().lexically_normal().string();
}

class ArtifactsE2eTest : public ::testing::Test {
 protected:
  // Starts the controller (with `controller_args`) and `agents` agents and
  // waits until they are idle.
  void StartCluster(std::vector<std::string> controller_args = {},
                    int agents = 1) {
    absl::Status started = cluster_.StartController(std::move(controller_args));
    ASSERT_TRUE(started.ok()) << started;
    for (int i = 0; i < agents; ++i) {
      absl::StatusOr<int> agent = cluster_.StartAgent();
      ASSERT_TRUE(agent.ok()) << agent.status();
    }
    ASSERT_TRUE(WaitFor([&] { return IdleAgents() >= agents; }, absl::Seconds(30), kCliPoll))
        << "the agents never became idle\n"
        << cluster_.LogTails();
  }

  int IdleAgents() {
    CliResult r = cluster_.Cli({"-o", "json", "agent", "list"});
    if (r.exit_code != 0) return 0;
    v1::ListAgentsResponse agents;
    if (!Parse(r.out, &agents)) return 0;
    int idle = 0;
    for (const v1::Agent& a : agents.agents()) {
      if (a.connected() && a.status() == "idle") ++idle;
    }
    return idle;
  }

  absl::StatusOr<v1::PipelineRun> Show(const std::string& locator) {
    CliResult r = cluster_.Cli({"-o", "json", "pipeline", "show", locator});
    if (r.exit_code != 0) return absl::NotFoundError(r.ToString());
    v1::PipelineRun run;
    if (!Parse(r.out, &run)) {
      return absl::InternalError(absl::StrCat("not a PipelineRun: ", r.out));
    }
    return run;
  }

  std::string StateOf(const std::string& locator) {
    absl::StatusOr<v1::PipelineRun> run = Show(locator);
    return run.ok() ? run->state() : run.status().ToString();
  }

  // Polls the run until it is in `state`; the message says where it got.
  ::testing::AssertionResult WaitForRunState(
      const std::string& locator, const std::string& state,
      absl::Duration deadline = kRunDeadline) {
    // Stops early at a final state other than the one expected.
    std::string last;
    WaitFor(
        [&] {
          last = StateOf(locator);
          return last == state || last == "passed" || last == "failed" ||
                 last == "cancelled";
        },
        deadline, kCliPoll);
    if (last == state) return ::testing::AssertionSuccess();
    absl::StatusOr<v1::PipelineRun> run = Show(locator);
    return ::testing::AssertionFailure()
           << locator << " never reached " << state << "; it is "
           << (run.ok() ? run->DebugString() : run.status().ToString())
           << "\n"
           << cluster_.LogTails(20);
  }

  static const v1::JobRun* FindJob(const v1::PipelineRun& run,
                                   const std::string& stage,
                                   const std::string& job) {
    for (const v1::StageRun& s : run.stages()) {
      if (s.name() != stage) continue;
      for (const v1::JobRun& j : s.jobs()) {
        if (j.name() == job) return &j;
      }
    }
    return nullptr;
  }

  std::string JobState(const std::string& run_locator, const std::string& stage,
                       const std::string& job) {
    absl::StatusOr<v1::PipelineRun> run = Show(run_locator);
    if (!run.ok()) return run.status().ToString();
    const v1::JobRun* j = FindJob(*run, stage, job);
    return j == nullptr ? "(no such job)" : j->state();
  }

  // Writes and applies a config; fails the test if the controller refuses it.
  void Apply(const std::string& yaml) {
    std::string path = cluster_.WriteFile("config/pipelines.gocd.yaml", yaml);
    CliResult r = cluster_.Cli({"config", "apply", "-f", path});
    ASSERT_EQ(r.exit_code, 0) << r.ToString();
  }

  // The job's whole log (`job log --follow`, which ends when it is complete).
  std::string JobLog(const std::string& locator) {
    CliResult r =
        cluster_.Cli({"job", "log", locator, "--follow"}, absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.ToString();
    return r.out;
  }

  absl::StatusOr<v1::ListArtifactsResponse> ListArtifacts(
      const std::string& locator) {
    CliResult r = cluster_.Cli({"-o", "json", "artifact", "list", locator});
    if (r.exit_code != 0) return absl::NotFoundError(r.ToString());
    v1::ListArtifactsResponse list;
    if (!Parse(r.out, &list)) {
      return absl::InternalError(absl::StrCat("not a list: ", r.out));
    }
    return list;
  }

  // The pipeline's working directory on agent `agent`.
  std::string PipelineDir(int agent, const std::string& pipeline) {
    return absl::StrCat(cluster_.agent_work_dir(agent), "/pipelines/",
                        pipeline);
  }

  Cluster cluster_;
};

// ---------------------------------------------------------------------------
// 1. A 200 MB random file goes up as an artifact and comes down, byte for
// byte, in a downstream pipeline triggered by it: the downstream job checks
// the upstream's own sha256sum file; the test compares `artifact list`
// digests and `artifact get` output with the original.
TEST_F(ArtifactsE2eTest, BigArtifactFetchedByDownstreamIsByteForByteEqual) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  up:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out/big.bin, destination: data}\n"
      "                - build: {source: out/big.sha, destination: data}\n"
      "              tasks:\n",
      ShTask("mkdir -p out\n"
             "head -c 200000000 /dev/urandom > out/big.bin\n"
             "cd out && sha256sum big.bin > big.sha && cat big.sha\n"),
      "  down:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      up: {pipeline: up, stage: build}\n"
      "    stages:\n"
      "      - check:\n"
      "          jobs:\n"
      "            verify:\n"
      "              tasks:\n"
      "                - fetch: {pipeline: up, stage: build, job: make, "
      "source: data}\n",
      ShTask("cd data && ls -l && sha256sum -c big.sha && echo VERIFIED\n"))));

  absl::Time start = absl::Now();
  CliResult trigger =
      cluster_.Cli({"pipeline", "trigger", "up", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << "\n"
                                  << JobLog("up/1/build/make");
  ASSERT_TRUE(WaitForRunState("down/1", "passed"))
      << JobLog("down/1/check/verify");
  std::cerr << "[ info ] 200 MB up and down in "
            << absl::FormatDuration(absl::Now() - start) << "\n";

  // The downstream job verified the bytes itself.
  std::string log = JobLog("down/1/check/verify");
  EXPECT_TRUE(absl::StrContains(log, "big.bin: OK")) << log;
  EXPECT_TRUE(absl::StrContains(log, "VERIFIED")) << log;
  EXPECT_TRUE(absl::StrContains(log, "fetched 'data' from up/1/build"))
      << log;

  // The original, as the upstream job wrote it.
  const std::string original = PipelineDir(0, "up") + "/out/big.bin";
  const std::string original_sha = Sha256Of(original);
  ASSERT_EQ(original_sha.size(), 64u) << original_sha;

  absl::StatusOr<v1::ListArtifactsResponse> list =
      ListArtifacts("up/1/build/make");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->files_size(), 2) << list->DebugString();
  EXPECT_EQ(list->files(0).path(), "data/big.bin");
  EXPECT_EQ(list->files(0).size(), 200000000);
  EXPECT_EQ(list->files(0).sha256(), original_sha);
  EXPECT_EQ(list->files(1).path(), "data/big.sha");

  // The text form shows the same digest.
  CliResult text = cluster_.Cli({"artifact", "list", "up/1/build/make"});
  ASSERT_EQ(text.exit_code, 0) << text.ToString();
  EXPECT_TRUE(absl::StrContains(text.out, original_sha)) << text.out;
  EXPECT_TRUE(absl::StrContains(text.out, "200000000")) << text.out;

  // What the downstream fetched is the original.
  const std::string fetched = PipelineDir(0, "down") + "/data/big.bin";
  RunResult cmp_fetched =
      Sh("cmp " + ShellQuote(original) + " " + ShellQuote(fetched));
  EXPECT_TRUE(cmp_fetched.success()) << cmp_fetched.out << cmp_fetched.err;

  // `artifact get` of everything writes each file under its artifact path.
  const std::string got_dir = cluster_.dir() + "/got";
  CliResult get = cluster_.Cli(
      {"artifact", "get", "up/1/build/make", "-d", got_dir}, kRunDeadline);
  ASSERT_EQ(get.exit_code, 0) << get.ToString();
  EXPECT_EQ(FilesBelow(got_dir),
            (std::vector<std::string>{"data/big.bin", "data/big.sha"}))
      << get.ToString();
  RunResult cmp_got = Sh("cmp " + ShellQuote(original) + " " +
                         ShellQuote(got_dir + "/data/big.bin"));
  EXPECT_TRUE(cmp_got.success()) << cmp_got.out << cmp_got.err;
  EXPECT_EQ(ReadAll(got_dir + "/data/big.sha"),
            absl::StrCat(original_sha, "  big.bin\n"));

  // Memory stays flat: neither side held the file in memory (issue 4.1).
  const int64_t controller_kib =
      PeakRssKiB("gantry-controller", cluster_.data_dir());
  const int64_t agent_kib = PeakRssKiB("gantry-agent", cluster_.dir());
  std::cerr << "[ info ] peak RSS: controller " << controller_kib
            << " KiB, agent " << agent_kib << " KiB\n";
  EXPECT_GT(controller_kib, 0);
  EXPECT_GT(agent_kib, 0);
  if (kPeakRssMeaningful) {
    EXPECT_LT(controller_kib, 120 * 1024) << "the controller buffered the file?";
    EXPECT_LT(agent_kib, 120 * 1024) << "the agent buffered the file?";
  }

  // The controller stored it once, content-addressed.
  const std::string blob =
      absl::StrCat(cluster_.data_dir(), "/artifacts/sha256/",
                   original_sha.substr(0, 2), "/", original_sha);
  EXPECT_EQ(Sha256Of(blob), original_sha);
}

// ---------------------------------------------------------------------------
// 2. A stored artifact corrupted on the controller's disk (same size) makes
// the fetch fail with a checksum error naming the file and the locator, and
// `artifact get` fail leaving no file behind.
TEST_F(ArtifactsE2eTest, CorruptedStoredArtifactFailsFetchAndGet) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  up:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out/payload.bin}\n"
      "              tasks:\n",
      ShTask("mkdir -p out\n"
             "head -c 300000 /dev/urandom > out/payload.bin\n"),
      "  down:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      up: {pipeline: up, stage: build}\n"
      "    stages:\n"
      "      - fetch:\n"
      "          approval: manual\n"
      "          jobs:\n"
      "            get:\n"
      "              tasks:\n"
      "                - fetch: {pipeline: up, stage: build, job: make, "
      "file: payload.bin, destination: in}\n",
      ShTask("echo fetched anyway\n"))));

  CliResult trigger =
      cluster_.Cli({"pipeline", "trigger", "up", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(WaitForRunState("down/1", "awaiting_approval"));

  absl::StatusOr<v1::ListArtifactsResponse> list =
      ListArtifacts("up/1/build/make");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->files_size(), 1) << list->DebugString();
  const std::string sha = list->files(0).sha256();
  ASSERT_EQ(sha.size(), 64u);
  const std::string blob = absl::StrCat(cluster_.data_dir(),
                                        "/artifacts/sha256/", sha.substr(0, 2),
                                        "/", sha);
  ASSERT_EQ(Sha256Of(blob), sha) << "not where docs/architecture.md says";

  // Overwrite 4 KiB in the middle: same size, different bytes.
  {
    int fd = ::open(blob.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << blob << ": " << std::strerror(errno);
    std::string junk(4096, '\x5a');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 100000),
              static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  ASSERT_EQ(fs::file_size(blob), 300000u);
  ASSERT_NE(Sha256Of(blob), sha);

  CliResult approve = cluster_.Cli({"stage", "approve", "down/1/fetch"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(WaitForRunState("down/1", "failed"));
  EXPECT_EQ(JobState("down/1", "fetch", "get"), "failed");
  std::string log = JobLog("down/1/fetch/get");
  EXPECT_TRUE(absl::StrContains(
      log, "checksum mismatch for payload.bin fetched from up/1/build"))
      << log;
  // Checked by the transfer checksum the controller recorded at upload.
  EXPECT_TRUE(absl::StrContains(log, "expected xxh128 ")) << log;
  EXPECT_FALSE(absl::StrContains(log, "\nfetched anyway\n")) << log;
  // Nothing half-written is left in the job's directory.
  EXPECT_EQ(FilesBelow(PipelineDir(0, "down") + "/in"),
            std::vector<std::string>{});

  // `artifact get`: non-zero, one-line error, no file (not even a temp one).
  const std::string got_dir = cluster_.dir() + "/got";
  CliResult get = cluster_.Cli(
      {"artifact", "get", "up/1/build/make", "payload.bin", "-d", got_dir});
  EXPECT_EQ(get.exit_code, 1) << get.ToString();
  EXPECT_TRUE(absl::StrContains(get.err, "checksum mismatch for payload.bin"))
      << get.ToString();
  EXPECT_EQ(FilesBelow(got_dir), std::vector<std::string>{});
  // The whole-job form too.
  CliResult get_all =
      cluster_.Cli({"artifact", "get", "up/1/build/make", "-d", got_dir});
  EXPECT_EQ(get_all.exit_code, 1) << get_all.ToString();
  EXPECT_EQ(FilesBelow(got_dir), std::vector<std::string>{});
}

// ---------------------------------------------------------------------------
// 2b. Identical content uploaded again after the stored copy was corrupted:
// the new, verified bytes must be what is served (deduplication must not
// keep pointing at a bad blob). Also: `artifact get` of several files whose
// first is corrupted ends cleanly with exit 1 and writes nothing.
TEST_F(ArtifactsE2eTest, ReuploadAfterCorruptionServesGoodCopy) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  up:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out}\n"
      "              tasks:\n",
      // The same bytes on every run.
      ShTask("mkdir -p out\n"
             "seq 1 50000 > out/a.txt\n"
             "seq 1 70000 > out/b.txt\n"),
      "  down:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      up: {pipeline: up, stage: build}\n"
      "    stages:\n"
      "      - take:\n"
      "          approval: manual\n"
      "          jobs:\n"
      "            get:\n"
      "              tasks:\n"
      "                - fetch: {pipeline: up, stage: build, job: make, "
      "file: out/a.txt}\n",
      ShTask("seq 1 50000 | cmp - a.txt && echo SAME\n"))));

  ASSERT_EQ(
      cluster_.Cli({"pipeline", "trigger", "up", "--wait"}, kRunDeadline)
          .exit_code,
      0);
  ASSERT_TRUE(WaitForRunState("down/1", "awaiting_approval"));
  absl::StatusOr<v1::ListArtifactsResponse> list =
      ListArtifacts("up/1/build/make");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->files_size(), 2) << list->DebugString();
  ASSERT_EQ(list->files(0).path(), "out/a.txt");
  const std::string sha = list->files(0).sha256();
  const std::string blob = absl::StrCat(cluster_.data_dir(),
                                        "/artifacts/sha256/", sha.substr(0, 2),
                                        "/", sha);
  {
    int fd = ::open(blob.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << blob << ": " << std::strerror(errno);
    ASSERT_EQ(::pwrite(fd, "XXXX", 4, 10), 4);
    ::close(fd);
  }

  // Two files, the first corrupted: exit 1, no file at all, no hang.
  const std::string got_dir = cluster_.dir() + "/got";
  CliResult get = cluster_.Cli(
      {"artifact", "get", "up/1/build/make", "-d", got_dir}, absl::Seconds(30));
  EXPECT_EQ(get.exit_code, 1) << get.ToString();
  EXPECT_TRUE(absl::StrContains(get.err, "checksum mismatch for out/a.txt"))
      << get.ToString();
  EXPECT_EQ(FilesBelow(got_dir), std::vector<std::string>{});

  // up/2 uploads the very same bytes, verified on arrival.
  ASSERT_EQ(
      cluster_.Cli({"pipeline", "trigger", "up", "--wait"}, kRunDeadline)
          .exit_code,
      0);
  ASSERT_TRUE(WaitForRunState("down/2", "awaiting_approval"));
  absl::StatusOr<v1::ListArtifactsResponse> list2 =
      ListArtifacts("up/2/build/make");
  ASSERT_TRUE(list2.ok()) << list2.status();
  ASSERT_EQ(list2->files_size(), 2);
  EXPECT_EQ(list2->files(0).sha256(), sha);

  // What up/2 uploaded fetches fine, by the operator and by down/2.
  const std::string got2 = cluster_.dir() + "/got2";
  CliResult get2 = cluster_.Cli(
      {"artifact", "get", "up/2/build/make", "out/a.txt", "-d", got2});
  EXPECT_EQ(get2.exit_code, 0) << get2.ToString();
  CliResult approve = cluster_.Cli({"stage", "approve", "down/2/take"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(WaitForRunState("down/2", "passed", absl::Seconds(30)))
      << JobLog("down/2/take/get");
  EXPECT_TRUE(absl::StrContains(JobLog("down/2/take/get"), "\nSAME\n"));
}

// ---------------------------------------------------------------------------
// Directories, globs, empty and executable files, `run_if` of artifacts, and
// a fetch within the same pipeline run.
TEST_F(ArtifactsE2eTest, TreesGlobsAndRunIfRoundTrip) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  tree:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out/tree, destination: pkg}\n"
      "                - test: {source: 'reports/**/*.xml', destination: "
      "reports}\n"
      "              tasks:\n",
      ShTask("mkdir -p out/tree/sub reports/x/y\n"
             "echo alpha > out/tree/a.txt\n"
             ": > out/tree/empty\n"
             "printf '#!/bin/sh\\necho run me\\n' > out/tree/sub/b.sh\n"
             "chmod +x out/tree/sub/b.sh\n"
             "echo '<r/>' > reports/x/y/r.xml\n"
             "echo '<z/>' > reports/z.xml\n"
             "echo not me > reports/notes.txt\n"),
      "      - use:\n"
      "          jobs:\n"
      "            check:\n"
      "              tasks:\n"
      "                - fetch: {stage: build, job: make, source: pkg/tree, "
      "destination: fetched}\n",
      ShTask("find fetched | sort\n"
             "test -x fetched/tree/sub/b.sh && ./fetched/tree/sub/b.sh\n"
             "test -f fetched/tree/empty && test ! -s fetched/tree/empty\n"
             "test \"$(cat fetched/tree/a.txt)\" = alpha && echo TREE-OK\n"),
      "  flaky:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            fail:\n"
      "              artifacts:\n"
      "                - build: {source: only-on-pass.txt}\n"
      "                - build: {source: only-on-fail.txt, run_if: failed}\n"
      "                - build: {source: always.txt, run_if: any}\n"
      "              tasks:\n",
      ShTask("for f in only-on-pass only-on-fail always; do echo $f > $f.txt; "
             "done\n"
             "exit 1\n"),
      "  missing:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: there.txt}\n"
      "              tasks:\n",
      ShTask("echo here > there.txt\n"),
      "      - use:\n"
      "          jobs:\n"
      "            take:\n"
      "              tasks:\n"
      "                - fetch: {stage: build, job: make, file: nope.txt}\n")));

  ASSERT_EQ(
      cluster_.Cli({"pipeline", "trigger", "tree", "--wait"}, kRunDeadline)
          .exit_code,
      0)
      << JobLog("tree/1/use/check");
  EXPECT_TRUE(absl::StrContains(JobLog("tree/1/use/check"), "\nTREE-OK\n"));
  absl::StatusOr<v1::ListArtifactsResponse> list =
      ListArtifacts("tree/1/build/make");
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> paths;
  for (const v1::ArtifactFile& f : list->files()) paths.push_back(f.path());
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "pkg/tree/a.txt", "pkg/tree/empty", "pkg/tree/sub/b.sh",
                       "reports/x/y/r.xml", "reports/z.xml"}));

  const std::string got = cluster_.dir() + "/got";
  CliResult get =
      cluster_.Cli({"artifact", "get", "tree/1/build/make", "pkg", "-d", got});
  ASSERT_EQ(get.exit_code, 0) << get.ToString();
  EXPECT_EQ(FilesBelow(got),
            (std::vector<std::string>{"pkg/tree/a.txt", "pkg/tree/empty",
                                      "pkg/tree/sub/b.sh"}));
  EXPECT_EQ(::access((got + "/pkg/tree/sub/b.sh").c_str(), X_OK), 0);
  EXPECT_NE(::access((got + "/pkg/tree/a.txt").c_str(), X_OK), 0);
  EXPECT_EQ(ReadAll(got + "/pkg/tree/empty"), "");

  // run_if: a failed job uploads `failed` and `any` artifacts only.
  EXPECT_EQ(
      cluster_.Cli({"pipeline", "trigger", "flaky", "--wait"}, kRunDeadline)
          .exit_code,
      1);
  absl::StatusOr<v1::ListArtifactsResponse> flaky =
      ListArtifacts("flaky/1/build/fail");
  ASSERT_TRUE(flaky.ok()) << flaky.status();
  paths.clear();
  for (const v1::ArtifactFile& f : flaky->files()) paths.push_back(f.path());
  EXPECT_EQ(paths,
            (std::vector<std::string>{"always.txt", "only-on-fail.txt"}));

  // A fetch of a file that is not there fails naming the locator.
  EXPECT_EQ(
      cluster_.Cli({"pipeline", "trigger", "missing", "--wait"}, kRunDeadline)
          .exit_code,
      1);
  std::string log = JobLog("missing/1/use/take");
  EXPECT_TRUE(absl::StrContains(log, "no artifact file 'nope.txt' in missing/1/build"))
      << log;
}

// ---------------------------------------------------------------------------
// 3. c fetches `pipeline: a/b`: the run of a is the one recorded in c's build
// cause (through b's), not the newest run of a.
TEST_F(ArtifactsE2eTest, AncestorFetchUsesRunRecordedInBuildCause) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  a:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out/version.txt, destination: rel}\n"
      "              tasks:\n",
      ShTask("mkdir -p out\n"
             "echo \"content of a/$GANTRY_PIPELINE_COUNTER $(head -c 8 "
             "/dev/urandom | od -An -tx1 | tr -d ' \\n')\" > out/version.txt\n"
             "cat out/version.txt\n"),
      "  b:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      a: {pipeline: a, stage: build}\n"
      "    stages:\n"
      "      - pass:\n"
      "          jobs:\n"
      "            relay:\n"
      "              tasks:\n",
      ShTask("echo relaying $GANTRY_REVISION_A\n"),
      "  c:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      b: {pipeline: b, stage: pass}\n"
      "    stages:\n"
      "      - deploy:\n"
      "          approval: manual\n"
      "          jobs:\n"
      "            ship:\n"
      "              tasks:\n"
      "                - fetch: {pipeline: a/b, stage: build, job: make, "
      "file: rel/version.txt}\n",
      ShTask("echo \"shipping: $(cat version.txt)\"\n"))));

  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "a", "--wait"}, kRunDeadline)
                .exit_code,
            0);
  ASSERT_TRUE(WaitForRunState("b/1", "passed"));
  ASSERT_TRUE(WaitForRunState("c/1", "awaiting_approval"));

  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "a", "--wait"}, kRunDeadline)
                .exit_code,
            0);
  ASSERT_TRUE(WaitForRunState("b/2", "passed"));
  ASSERT_TRUE(WaitForRunState("c/2", "awaiting_approval"));

  const std::string latest =
      ReadAll(PipelineDir(0, "a") + "/out/version.txt");
  // The agent's copy now holds a/2's file; a/1's is in the store.
  const std::string got1 = cluster_.dir() + "/a1";
  ASSERT_EQ(cluster_
                .Cli({"artifact", "get", "a/1/build/make", "rel/version.txt",
                      "-d", got1})
                .exit_code,
            0);
  const std::string content1 =
      std::string(absl::StripSuffix(ReadAll(got1 + "/rel/version.txt"), "\n"));
  const std::string content2 = std::string(absl::StripSuffix(latest, "\n"));
  ASSERT_TRUE(absl::StartsWith(content1, "content of a/1 ")) << content1;
  ASSERT_TRUE(absl::StartsWith(content2, "content of a/2 ")) << content2;

  CliResult approve = cluster_.Cli({"stage", "approve", "c/1/deploy"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(WaitForRunState("c/1", "passed"))
      << JobLog("c/1/deploy/ship");
  std::string log1 = JobLog("c/1/deploy/ship");
  EXPECT_TRUE(absl::StrContains(log1, "shipping: " + content1)) << log1;
  EXPECT_FALSE(absl::StrContains(log1, content2)) << log1;
  EXPECT_TRUE(absl::StrContains(log1, "from a/1/build")) << log1;

  // And c/2 gets a/2's: the recorded run, not the oldest either.
  approve = cluster_.Cli({"stage", "approve", "c/2/deploy"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(WaitForRunState("c/2", "passed"));
  std::string log2 = JobLog("c/2/deploy/ship");
  EXPECT_TRUE(absl::StrContains(log2, "shipping: " + content2)) << log2;
}

// ---------------------------------------------------------------------------
// 4. `job log --follow` prints a line while the job still runs, and ends
// with the rest once the job has ended.
TEST_F(ArtifactsE2eTest, FollowShowsLinesBeforeJobEnds) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::string gate = cluster_.dir() + "/gate";
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  slow:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - run:\n"
      "          jobs:\n"
      "            wait:\n"
      "              tasks:\n",
      ShTask(absl::StrCat("echo first line before the gate\n"
                          "i=0\n"
                          "while [ ! -e ",
                          gate,
                          " ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); "
                          "done\n"
                          "test -e ",
                          gate,
                          "\n"
                          "echo second line after the gate\n")))));

  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "slow"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();

  // The CLI as a child, its stdout going to a file we read as it grows.
  const std::string out_path = cluster_.dir() + "/follow.out";
  SpawnOptions options;
  options.log_path = out_path;
  options.truncate_log = true;
  options.kill_on_parent_death = true;
  absl::StatusOr<std::unique_ptr<ChildProcess>> follow = ChildProcess::Spawn(
      {BinDir() + "/gantry", "--controller", cluster_.controller_addr(),
       "--token-file", cluster_.admin_token_file(), "--ca-file", cluster_.ca_file(), "job", "log",
       "slow/1/run/wait", "--follow"},
      options);
  ASSERT_TRUE(follow.ok()) << follow.status();

  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(ReadAll(out_path),
                                 "\nfirst line before the gate\n");
      },
      absl::Seconds(30)))
      << "follow output: " << ReadAll(out_path) << "\n"
      << cluster_.LogTails(20);
  // Seen while the job is still running, and the follow still going.
  EXPECT_EQ(JobState("slow/1", "run", "wait"), "running");
  EXPECT_TRUE((*follow)->IsRunning());
  EXPECT_FALSE(
      absl::StrContains(ReadAll(out_path), "\nsecond line after the gate\n"));

  cluster_.WriteFile("gate", "go\n");
  absl::StatusOr<ExitStatus> ended = (*follow)->Wait(absl::Seconds(30));
  ASSERT_TRUE(ended.ok()) << "--follow did not end: " << ended.status()
                          << "\n"
                          << ReadAll(out_path);
  EXPECT_TRUE(ended->success()) << ended->ToString();
  std::string out = ReadAll(out_path);
  size_t first = out.find("\nfirst line before the gate\n");
  size_t second = out.find("\nsecond line after the gate\n");
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
  // The follow printed every byte once: the same as a plain read afterwards.
  EXPECT_TRUE(WaitForRunState("slow/1", "passed"));
  CliResult plain = cluster_.Cli({"job", "log", "slow/1/run/wait"});
  EXPECT_EQ(plain.out, out);
}

// ---------------------------------------------------------------------------
// 5. Paths that would leave the working directory or the artifact tree are
// refused: in config (with file:line:col), at upload (symlinks out), at fetch
// (a destination that is a symlink out) and by `artifact get`.
TEST_F(ArtifactsE2eTest, TraversalIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());

  // (a) `source: ../outside.txt` and (b) fetch `destination: ../escape` are
  // refused by config validation, at the value.
  const std::string bad = cluster_.WriteFile(
      "config/bad.gocd.yaml",
      "format_version: 10\n"                                           // 1
      "pipelines:\n"                                                   // 2
      "  p:\n"                                                         // 3
      "    group: e2e\n"                                               // 4
      "    stages:\n"                                                  // 5
      "      - build:\n"                                               // 6
      "          jobs:\n"                                              // 7
      "            make:\n"                                            // 8
      "              artifacts:\n"                                     // 9
      "                - build: {source: ../outside.txt}\n"            // 10
      "              tasks:\n"                                         // 11
      "                - exec: {command: /bin/true}\n"                 // 12
      "      - use:\n"                                                 // 13
      "          jobs:\n"                                              // 14
      "            take:\n"                                            // 15
      "              tasks:\n"                                         // 16
      "                - fetch:\n"                                     // 17
      "                    stage: build\n"                             // 18
      "                    job: make\n"                                // 19
      "                    source: x\n"                                // 20
      "                    destination: ../escape\n");                 // 21
  CliResult refused = cluster_.Cli({"config", "apply", "-f", bad});
  EXPECT_EQ(refused.exit_code, 1) << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, bad + ":10:35: "))
      << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, bad + ":21:34: "))
      << refused.ToString();
  EXPECT_TRUE(absl::StrContains(refused.err, "..")) << refused.ToString();
  // Nothing was applied.
  EXPECT_NE(cluster_.Cli({"pipeline", "show", "p"}).exit_code, 0);

  // (c) symlinks out of the work dir as artifact sources, a file and one
  // inside a directory; (d) a fetch destination that is a symlink out.
  const std::string outside = cluster_.dir() + "/outside";
  ASSERT_TRUE(fs::create_directories(outside));
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  up:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            make:\n"
      "              artifacts:\n"
      "                - build: {source: out/ok.txt}\n"
      "              tasks:\n",
      ShTask("mkdir -p out && echo fine > out/ok.txt\n"),
      "  links:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - build:\n"
      "          jobs:\n"
      "            file-link:\n"
      "              artifacts:\n"
      "                - build: {source: pw}\n"
      "              tasks:\n",
      ShTask("ln -sf /etc/passwd pw\n"),
      "            dir-link:\n"
      "              artifacts:\n"
      "                - build: {source: tree}\n"
      "              tasks:\n",
      ShTask("mkdir -p tree && echo in > tree/in.txt && "
             "ln -sf /etc/passwd tree/pw\n"),
      "  down:\n"
      "    group: e2e\n"
      "    materials:\n"
      "      up: {pipeline: up, stage: build}\n"
      "    stages:\n"
      "      - take:\n"
      "          jobs:\n"
      "            escape:\n"
      "              tasks:\n",
      ShTask(absl::StrCat("ln -sfn ", outside, " away\n")),
      "                - fetch: {pipeline: up, stage: build, job: make, "
      "file: ok.txt, destination: away}\n",
      ShTask("echo after the fetch\n"))));

  ASSERT_EQ(cluster_.Cli({"pipeline", "trigger", "links", "--wait"},
                         kRunDeadline)
                .exit_code,
            1);
  for (const char* job : {"file-link", "dir-link"}) {
    EXPECT_EQ(JobState("links/1", "build", job), "failed") << job;
    std::string log = JobLog(absl::StrCat("links/1/build/", job));
    EXPECT_TRUE(absl::StrContains(log, "outside the job's working directory"))
        << job << ": " << log;
    EXPECT_TRUE(absl::StrContains(log, "/etc/passwd")) << job << ": " << log;
  }
  for (const char* job : {"file-link", "dir-link"}) {
    absl::StatusOr<v1::ListArtifactsResponse> list =
        ListArtifacts(absl::StrCat("links/1/build/", job));
    ASSERT_TRUE(list.ok()) << list.status();
    for (const v1::ArtifactFile& f : list->files()) {
      EXPECT_NE(f.path(), "pw") << job << " uploaded /etc/passwd";
      EXPECT_NE(f.path(), "tree/pw") << job << " uploaded /etc/passwd";
    }
  }

  ASSERT_EQ(
      cluster_.Cli({"pipeline", "trigger", "up", "--wait"}, kRunDeadline)
          .exit_code,
      0);
  ASSERT_TRUE(WaitForRunState("down/1", "failed"));
  std::string log = JobLog("down/1/take/escape");
  EXPECT_TRUE(absl::StrContains(log, "fetch destination 'away'")) << log;
  EXPECT_TRUE(absl::StrContains(log, "leads out of the job's working directory"))
      << log;
  EXPECT_FALSE(absl::StrContains(log, "\nafter the fetch\n")) << log;
  EXPECT_EQ(FilesBelow(outside), std::vector<std::string>{});

  // (e) `artifact get` / `list` with a PATH leaving the tree.
  const std::string got_dir = cluster_.dir() + "/got/inner";
  for (const char* path : {"../x", "/etc/passwd", "out/../../x"}) {
    CliResult get =
        cluster_.Cli({"artifact", "get", "up/1/build/make", path, "-d", got_dir});
    EXPECT_EQ(get.exit_code, 1) << path << ": " << get.ToString();
    EXPECT_TRUE(absl::StartsWith(get.err, "gantry: ")) << get.ToString();
    EXPECT_TRUE(absl::StrContains(get.err, path)) << get.ToString();
    CliResult list =
        cluster_.Cli({"artifact", "list", "up/1/build/make", path});
    EXPECT_EQ(list.exit_code, 1) << path << ": " << list.ToString();
  }
  EXPECT_EQ(FilesBelow(cluster_.dir() + "/got"), std::vector<std::string>{});
}

// ---------------------------------------------------------------------------
// 6. --max-console-mib 1: a job printing 3 MiB keeps 1 MiB, then the marker,
// and still passes.
TEST_F(ArtifactsE2eTest, ConsoleCapTruncatesWithMarker) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--max-console-mib", "1"}));
  ASSERT_NO_FATAL_FAILURE(Apply(absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  chatty:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - talk:\n"
      "          jobs:\n"
      "            spam:\n"
      "              tasks:\n",
      // 3072 lines of 1024 bytes: 3 MiB.
      ShTask("line=$(head -c 1023 /dev/zero | tr '\\0' x)\n"
             "yes \"$line\" | head -n 3072\n"
             "echo the very last line\n"))));

  CliResult trigger =
      cluster_.Cli({"pipeline", "trigger", "chatty", "--wait"}, kRunDeadline);
  EXPECT_EQ(trigger.exit_code, 0) << trigger.ToString();
  EXPECT_EQ(JobState("chatty/1", "talk", "spam"), "passed");

  std::string log = JobLog("chatty/1/talk/spam");
  const std::string marker = "[gantry] console log truncated at 1048576 bytes";
  size_t at = log.rfind(marker);
  ASSERT_NE(at, std::string::npos) << log.size() << " bytes: ..."
                                   << log.substr(log.size() - 300);
  EXPECT_EQ(log.find(marker), at) << "more than one marker";
  // The marker is the last line, right after the first MiB.
  EXPECT_EQ(log.find('\n', at), log.size() - 1) << log.substr(at);
  EXPECT_GE(at, 1048576u - 1024);
  EXPECT_LE(at, 1048576u + 1);
  EXPECT_FALSE(absl::StrContains(log, "\nthe very last line\n"));
  EXPECT_TRUE(absl::StrContains(log, std::string(1023, 'x') + "\n"));
}

// ---------------------------------------------------------------------------
// 7. The examples: hello → hello-deploy fetches hello.txt; installer →
// hotfix-deploy waits at its gate, then installs release 2.4.1.
TEST_F(ArtifactsE2eTest, ExamplesRun) {
  ASSERT_NO_FATAL_FAILURE(StartCluster({}, 2));
  const std::string examples = ExamplesDir();
  CliResult apply =
      cluster_.Cli({"config", "apply", "-f", examples + "/pipelines.gocd.yaml",
                    "-f", examples + "/hotfix.gocd.yaml"});
  ASSERT_EQ(apply.exit_code, 0) << apply.ToString();

  CliResult hello =
      cluster_.Cli({"pipeline", "trigger", "hello", "--wait"}, kRunDeadline);
  ASSERT_EQ(hello.exit_code, 0) << hello.ToString();
  ASSERT_TRUE(WaitForRunState("hello-deploy/1", "passed"))
      << JobLog("hello-deploy/1/deploy/deploy");
  std::string deploy_log = JobLog("hello-deploy/1/deploy/deploy");
  EXPECT_TRUE(absl::StrContains(deploy_log,
                                "deploying hello/1/test/1: hello from run 1"))
      << deploy_log;
  EXPECT_TRUE(absl::StrContains(deploy_log, "fetched 'site/hello.txt'"))
      << deploy_log;

  CliResult installer = cluster_.Cli({"pipeline", "trigger", "installer"});
  ASSERT_EQ(installer.exit_code, 0) << installer.ToString();
  ASSERT_TRUE(WaitForRunState("hotfix-deploy/1", "awaiting_approval"));
  const std::string gated = JobState("hotfix-deploy/1", "deploy", "deploy");
  EXPECT_TRUE(gated != "running" && gated != "passed" && gated != "failed")
      << "ran before approval: " << gated;
  CliResult approve =
      cluster_.Cli({"stage", "approve", "hotfix-deploy/1/deploy"});
  ASSERT_EQ(approve.exit_code, 0) << approve.ToString();
  ASSERT_TRUE(WaitForRunState("hotfix-deploy/1", "passed"))
      << JobLog("hotfix-deploy/1/deploy/deploy");
  std::string hotfix_log = JobLog("hotfix-deploy/1/deploy/deploy");
  EXPECT_TRUE(absl::StrContains(hotfix_log, "installing release 2.4.1"))
      << hotfix_log;
  // The installer run goes on by itself.
  EXPECT_TRUE(WaitForRunState("installer/1", "passed"));
}

// ---------------------------------------------------------------------------
// Issue 11 point 9: artifact transfers survive the controller going away,
// obey the job's limits, and batch small files.
//
//   UploadSurvivesControllerKill   kill -9 mid-upload, restart on the same
//                                  data dir: the job passes, bytes intact
//   MaxDurationEndsBlockedUpload   controller frozen (SIGSTOP) mid-upload:
//                                  max_duration cancels the job anyway
//   ManySmallFilesFewCalls         2,000 files arrive in a handful of
//                                  UploadArtifact calls (/metrics)

// One pipeline `p`, one job `make` whose script (at indent 24) runs first.
std::string OneJobPipeline(const std::string& job_keys, const std::string& artifacts,
                           const std::string& script) {
  std::string out = absl::StrCat(
      "format_version: 10\n"
      "pipelines:\n"
      "  p:\n"
      "    group: e2e\n"
      "    stages:\n"
      "      - s:\n"
      "          jobs:\n"
      "            make:\n",
      job_keys, "              artifacts:\n", artifacts, ShellTasksYaml(script));
  return out;
}

// Bytes of the upload the controller is receiving now (its incoming file),
// 0 when none.
int64_t IncomingBytes(const Cluster& cluster) {
  std::error_code ec;
  int64_t most = 0;
  for (const auto& e :
       fs::recursive_directory_iterator(cluster.data_dir() + "/artifacts/incoming", ec)) {
    std::error_code size_ec;
    const auto size = fs::file_size(e.path(), size_ec);
    if (!size_ec) most = std::max(most, static_cast<int64_t>(size));
  }
  return most;
}

class ArtifactResilienceE2eTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> controller_args = {}) {
    absl::Status started = cluster_.StartController(std::move(controller_args));
    ASSERT_TRUE(started.ok()) << started << cluster_.LogTails();
    absl::StatusOr<int> agent = cluster_.StartAgent();
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(cluster_.WaitForIdleAgents()) << cluster_.LogTails();
  }
  void Apply(const std::string& yaml) {
    absl::Status applied = cluster_.ApplyConfig(yaml);
    ASSERT_TRUE(applied.ok()) << applied << "\n" << yaml;
  }
  std::string JobDir() { return cluster_.agent_work_dir(0) + "/pipelines/p"; }
  std::string Log() {
    auto log = cluster_.JobLog("p/1/s/make");
    return log.ok() ? *log : log.status().ToString();
  }
  // Waits until an upload of more than `min_bytes` but not yet `below` is
  // under way on the controller.
  ::testing::AssertionResult WaitForUploadUnderWay(int64_t min_bytes, int64_t below) {
    int64_t seen = 0;
    if (WaitFor(
            [&] {
              seen = IncomingBytes(cluster_);
              return seen > min_bytes && seen < below;
            },
            absl::Seconds(60), absl::Milliseconds(1))) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no upload under way (last seen " << seen << " bytes)\n"
                                         << cluster_.LogTails();
  }

  Cluster cluster_;
};

// The controller is killed with -9 while the job's 128 MiB artifact is
// halfway in, and started again on the same data dir and port: the agent
// retries on the new connection (a console line says so), the job passes,
// and what is stored is the job's file, byte for byte.
TEST_F(ArtifactResilienceE2eTest, UploadSurvivesControllerKill) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(Apply(OneJobPipeline("",
                                               "                - build: {source: big.bin}\n"
                                               "                - build: {source: big.sha}\n",
                                               "head -c 134217728 /dev/urandom > big.bin\n"
                                               "sha256sum big.bin > big.sha\n")));
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "p"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(WaitForUploadUnderWay(1 << 20, 100 << 20));
  cluster_.KillController(SIGKILL);
  absl::Status restarted = cluster_.RestartController();
  ASSERT_TRUE(restarted.ok()) << restarted << cluster_.LogTails();

  ASSERT_TRUE(cluster_.WaitForRunState("p/1", "passed", kRunDeadline)) << Log();
  const std::string log = Log();
  EXPECT_TRUE(absl::StrContains(log, "the controller is out of reach")) << log;
  EXPECT_TRUE(
      absl::StrContains(log, "uploaded artifact 'big.bin' -> .: 1 file(s), 134217728 bytes"))
      << log;

  const std::string original_sha = Sha256Of(JobDir() + "/big.bin");
  ASSERT_EQ(original_sha.size(), 64u) << original_sha;
  const std::string got = cluster_.dir() + "/got";
  CliResult get = cluster_.Cli({"artifact", "get", "p/1/s/make", "-d", got}, kRunDeadline);
  ASSERT_EQ(get.exit_code, 0) << get.ToString();
  EXPECT_EQ(Sha256Of(got + "/big.bin"), original_sha);
  RunResult check = Sh("cd " + ShellQuote(got) + " && sha256sum -c big.sha");
  EXPECT_TRUE(check.success()) << check.out << check.err;
}

// The controller stops answering (SIGSTOP) in the middle of an upload; the
// job's max_duration still ends it: the agent gives up on the blocked call
// and, once the controller is back, the job is cancelled with that reason.
TEST_F(ArtifactResilienceE2eTest, MaxDurationEndsBlockedUpload) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(Apply(OneJobPipeline("              max_duration: 4s\n",
                                               "                - build: {source: big.bin}\n",
                                               "head -c 268435456 /dev/zero > big.bin\n")));
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "p"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString();
  ASSERT_TRUE(WaitForUploadUnderWay(0, 200 << 20));
  cluster_.KillController(SIGSTOP);
  // The agent ends the attempt on its own while the controller is frozen.
  const bool agent_gave_up = WaitFor(
      [&] {
        std::string log = cluster_.AgentLog(0);
        return absl::StrContains(log, "cancelled (ran longer than max_duration 4s)");
      },
      absl::Seconds(30), absl::Milliseconds(20));
  cluster_.KillController(SIGCONT);
  ASSERT_TRUE(agent_gave_up) << cluster_.AgentLog(0);

  ASSERT_TRUE(cluster_.WaitForRunState("p/1", "cancelled", kRunDeadline)) << Log();
  const std::string log = Log();
  EXPECT_TRUE(absl::StrContains(log, "artifact upload cancelled (ran longer than max_duration 4s)"))
      << log;
  CliResult list = cluster_.Cli({"artifact", "list", "p/1/s/make"});
  EXPECT_FALSE(absl::StrContains(list.out, "big.bin")) << list.ToString();
}

// UploadArtifact calls the controller has answered, from /metrics (curl).
int64_t UploadCalls(const std::string& http) {
  RunResult metrics = Sh("curl -sf " + ShellQuote("http://" + http + "/metrics"));
  if (!metrics.success()) return -1;
  int64_t calls = 0;
  for (absl::string_view line : absl::StrSplit(metrics.out, '\n')) {
    if (!absl::StartsWith(line, "gantry_grpc_requests_total{") ||
        !absl::StrContains(line, "method=\"/gantry.v1.AgentService/UploadArtifact\"")) {
      continue;
    }
    double n = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &n)) calls += static_cast<int64_t>(n);
  }
  return calls;
}

// 2,000 small files of one job all arrive, in far fewer than 2,000 calls.
TEST_F(ArtifactResilienceE2eTest, ManySmallFilesFewCalls) {
  ASSERT_NO_FATAL_FAILURE(Start({"--http-listen", "127.0.0.1:0", "--http-plaintext"}));
  auto addr = ReadFile(cluster_.data_dir() + "/http.addr");
  ASSERT_TRUE(addr.ok()) << cluster_.LogTails();
  const std::string http(absl::StripAsciiWhitespace(*addr));
  ASSERT_NO_FATAL_FAILURE(Apply(OneJobPipeline(
      "", "                - build: {source: many, destination: out}\n",
      "mkdir -p many\n"
      "i=0; while [ $i -lt 2000 ]; do echo \"file $i\" > many/f$i.txt; i=$((i+1)); done\n")));
  const int64_t before = UploadCalls(http);
  ASSERT_GE(before, 0);
  const absl::Time start = absl::Now();
  CliResult trigger = cluster_.Cli({"pipeline", "trigger", "p", "--wait"}, kRunDeadline);
  ASSERT_EQ(trigger.exit_code, 0) << trigger.ToString() << Log();
  const int64_t calls = UploadCalls(http) - before;
  std::cerr << "[ info ] 2,000 files in " << calls << " UploadArtifact call(s); run took "
            << absl::FormatDuration(absl::Now() - start) << "\n";
  EXPECT_GE(calls, 1);
  EXPECT_LE(calls, 20) << "one call per file?";

  const std::string got = cluster_.dir() + "/got";
  const absl::Time get_start = absl::Now();
  CliResult get = cluster_.Cli({"artifact", "get", "p/1/s/make", "-d", got}, kRunDeadline);
  ASSERT_EQ(get.exit_code, 0) << get.ToString();
  std::cerr << "[ info ] artifact get of 2,000 files took "
            << absl::FormatDuration(absl::Now() - get_start) << "\n";
  RunResult diff = Sh("diff -r " + ShellQuote(JobDir() + "/many") + " " + ShellQuote(got + "/out/many"));
  EXPECT_TRUE(diff.success()) << diff.out << diff.err;
  RunResult count = Sh("find " + ShellQuote(got + "/out/many") + " -type f | wc -l");
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(count.out)), "2000");
}

}  // namespace
}  // namespace gantry::e2e
