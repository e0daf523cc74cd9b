// The chaos run (docs/reliability.md): many runs of a three-stage pipeline
// over four real agents while the controller, an agent or PostgreSQL's
// postmaster is killed with -9, or an agent's connection is cut for a few
// seconds (each agent dials through its own TCP proxy), at random, then the
// invariants that must hold whatever happened. Not part of the default test run (it takes
// minutes): tests/chaos/run.sh builds and runs it.
//
//   CHAOS_RUNS (200)   runs to trigger
//   CHAOS_SEED (time)  for the fault schedule; printed, so a run can be repeated
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "tests/chaos/tcp_proxy.h"
#include "tests/e2e/harness.h"

namespace gantry::e2e {
namespace {

constexpr int kAgents = 4;
constexpr int kLines = 20;
constexpr int kMaxActive = 8;

int EnvInt(const char* name, int fallback) {
  int v = 0;
  const char* s = std::getenv(name);
  return s != nullptr && absl::SimpleAtoi(s, &v) && v > 0 ? v : fallback;
}

// Each job: a marker line per execution, kLines numbered console lines, and
// an artifact whose content names the job.
std::string Config(const std::string& markers) {
  std::string job = absl::StrCat(
      "{jobs: {j: {artifacts: [{build: {source: out.txt}}], tasks: [{exec: {command: sh, "
      "arguments: [\"-c\", \"echo $GANTRY_PIPELINE_COUNTER/$GANTRY_STAGE_NAME/"
      "$GANTRY_STAGE_COUNTER >> ",
      markers, "; i=1; while [ $i -le ", kLines,
      " ]; do echo chaos-line-$i; i=$((i+1)); sleep 0.05; done; "
      "echo $GANTRY_PIPELINE_COUNTER-$GANTRY_STAGE_NAME > out.txt\"]}}]}}}");
  return absl::StrCat("format_version: 10\npipelines:\n  chaos:\n    stages:\n      - s1: ", job,
                      "\n      - s2: ", job, "\n      - s3: ", job, "\n");
}

bool Final(const std::string& state) {
  return state == "passed" || state == "failed" || state == "cancelled";
}

// Processes whose command line mentions `needle`.
std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid == ::getpid()) continue;
    auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (!cmdline.ok()) continue;
    std::string text = *cmdline;
    std::replace(text.begin(), text.end(), '\0', ' ');
    if (absl::StrContains(text, needle)) out.push_back(absl::StrCat(pid, ": ", text));
  }
  ::closedir(proc);
  return out;
}

class Chaos {
 public:
  Chaos(Cluster& cluster, std::vector<std::unique_ptr<chaos::TcpProxy>>& proxies, unsigned seed)
      : cluster_(cluster), proxies_(proxies), rng_(seed) {}

  // One random fault, and the repair a supervisor would do.
  void Inject() {
    switch (std::uniform_int_distribution<int>(0, 4)(rng_)) {
      case 0:
        cluster_.KillController(SIGKILL);
        EXPECT_TRUE(cluster_.RestartController().ok()) << cluster_.LogTails();
        ++faults_["controller kill -9"];
        break;
      case 1:
      case 2: {
        int agent = std::uniform_int_distribution<int>(0, kAgents - 1)(rng_);
        cluster_.KillAgent(agent, SIGKILL);
        EXPECT_TRUE(cluster_.RestartAgent(agent).ok());
        ++faults_["agent kill -9"];
        break;
      }
      case 3: {
        // The controller's own PostgreSQL: its supervisor must notice and
        // start it again (a test server without fsync would also lose
        // acknowledged commits, which says nothing about Gantry).
        auto text = ReadFile(cluster_.data_dir() + "/pg/postmaster.pid");
        int pid = 0;
        if (!text.ok() || !absl::SimpleAtoi(text->substr(0, text->find('\n')), &pid)) return;
        ::kill(pid, SIGKILL);
        ++faults_["postmaster kill -9"];
        break;
      }
      case 4: {
        // The agent's cable is pulled for 1-6 s (shorter than the lost-agent
        // timeout, and longer): its stream breaks and it must dial again.
        int agent = std::uniform_int_distribution<int>(0, kAgents - 1)(rng_);
        proxies_[agent]->Cut(
            absl::Milliseconds(std::uniform_int_distribution<int>(1000, 6000)(rng_)));
        ++faults_["agent connection cut"];
        break;
      }
    }
  }

  absl::Duration NextPause() {
    return absl::Milliseconds(std::uniform_int_distribution<int>(1500, 4000)(rng_));
  }
  const std::map<std::string, int>& faults() const { return faults_; }

 private:
  Cluster& cluster_;
  std::vector<std::unique_ptr<chaos::TcpProxy>>& proxies_;
  std::mt19937 rng_;
  std::map<std::string, int> faults_;
};

TEST(ChaosRun, InvariantsHoldUnderFaults) {
  const int runs = EnvInt("CHAOS_RUNS", 200);
  const unsigned seed =
      static_cast<unsigned>(EnvInt("CHAOS_SEED", static_cast<int>(::time(nullptr))));
  std::printf("chaos: %d runs, seed %u\n", runs, seed);
  Cluster cluster;
  cluster.UseEmbeddedDatabase();  // durable, and supervised by the controller
  ASSERT_TRUE(cluster.StartController().ok()) << cluster.LogTails();
  const std::string markers = cluster.dir() + "/markers";
  ASSERT_TRUE(cluster.ApplyConfig(Config(markers)).ok()) << cluster.LogTails();
  // Each agent dials the controller through a proxy of its own, which
  // keeps forwarding to the controller's port across its restarts.
  int controller_port = 0;
  const std::string addr = cluster.controller_addr();
  ASSERT_TRUE(absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &controller_port)) << addr;
  std::vector<std::unique_ptr<chaos::TcpProxy>> proxies;
  for (int i = 0; i < kAgents; ++i) {
    auto proxy = chaos::TcpProxy::Start(controller_port);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    AgentOptions options;
    options.controller_addr = (*proxy)->address();
    proxies.push_back(std::move(*proxy));
    ASSERT_TRUE(cluster.StartAgent(options).ok());
  }
  ASSERT_TRUE(cluster.WaitForIdleAgents(absl::Seconds(60))) << cluster.LogTails();

  Chaos chaos(cluster, proxies, seed);
  int triggered = 0;
  absl::Time next_fault = absl::Now() + chaos.NextPause();
  absl::Time give_up = absl::Now() + absl::Minutes(30);
  // Trigger with at most kMaxActive runs unfinished, injecting faults as we go.
  while (triggered < runs && absl::Now() < give_up) {
    int active = 0;
    CliResult history = cluster.Cli(
        {"-o", "json", "pipeline", "history", "chaos", "--limit", std::to_string(kMaxActive * 2)});
    v1::PipelineHistoryResponse h;
    if (history.exit_code == 0 && ParseJson(history.out, &h)) {
      for (const auto& r : h.runs()) active += Final(r.state()) ? 0 : 1;
    }
    if (history.exit_code == 0 && active < kMaxActive) {
      if (cluster.Cli({"pipeline", "trigger", "chaos"}).exit_code == 0) ++triggered;
    }
    if (absl::Now() >= next_fault) {
      chaos.Inject();
      next_fault = absl::Now() + chaos.NextPause();
    }
  }
  ASSERT_EQ(triggered, runs) << "could not trigger every run in 30 minutes";

  // Every run finishes.
  std::map<std::string, int> states;
  v1::PipelineHistoryResponse all;
  bool finished = WaitFor(
      [&] {
        CliResult r = cluster.Cli(
            {"-o", "json", "pipeline", "history", "chaos", "--limit", std::to_string(runs + 10)});
        if (r.exit_code != 0 || !ParseJson(r.out, &all) || all.runs_size() != runs) return false;
        for (const auto& run : all.runs()) {
          if (!Final(run.state())) return false;
        }
        return true;
      },
      absl::Minutes(10), absl::Seconds(1));
  for (const auto& run : all.runs()) ++states[run.state()];
  EXPECT_TRUE(finished) << cluster.LogTails();

  int violations = 0;
  // No job attempt ran twice: one marker line per pipeline/stage/attempt.
  auto marker_text = ReadFile(markers);
  std::map<std::string, int> executions;
  if (marker_text.ok()) {
    for (absl::string_view line : absl::StrSplit(*marker_text, '\n', absl::SkipEmpty())) {
      ++executions[std::string(line)];
    }
  }
  for (const auto& [attempt, count] : executions) {
    if (count > 1) {
      ADD_FAILURE() << "attempt " << attempt << " ran " << count << " times";
      ++violations;
    }
  }
  // Every passed job's console holds each line once; its artifact is whole.
  int checked = 0;
  for (const auto& run : all.runs()) {
    for (const auto& stage : run.stages()) {
      if (stage.state() != "passed") continue;
      std::string locator =
          absl::StrCat("chaos/", run.counter(), "/", stage.name(), "/", stage.counter(), "/j");
      auto log = cluster.JobLog(locator);
      if (!log.ok()) {
        ADD_FAILURE() << locator << ": " << log.status();
        ++violations;
        continue;
      }
      for (int i = 1; i <= kLines; ++i) {
        std::string line = absl::StrCat("chaos-line-", i, "\n");
        size_t first = log->find(line);
        if (first == std::string::npos || log->find(line, first + 1) != std::string::npos) {
          ADD_FAILURE() << locator << ": line " << i << " missing or stored twice";
          ++violations;
        }
      }
      std::string dir = absl::StrCat(cluster.dir(), "/fetched/", run.counter(), "-", stage.name());
      CliResult get = cluster.Cli({"artifact", "get", locator, "-d", dir});
      auto content = ReadFile(dir + "/out.txt");
      if (get.exit_code != 0 || !content.ok() ||
          *content != absl::StrCat(run.counter(), "-", stage.name(), "\n")) {
        ADD_FAILURE() << locator << ": artifact: " << get.ToString();
        ++violations;
      }
      ++checked;
    }
  }
  // No process outlives the cluster's controller and agents.
  cluster.KillController(SIGTERM);
  for (int i = 0; i < kAgents; ++i) cluster.KillAgent(i, SIGTERM);
  std::vector<std::string> leaked;
  WaitFor(
      [&] {
        leaked = ProcessesMentioning(cluster.dir());
        return leaked.empty();
      },
      absl::Seconds(30));
  for (const std::string& p : leaked) {
    ADD_FAILURE() << "leaked process " << p;
    ++violations;
  }

  std::printf("chaos summary: seed %u, runs %d (", seed, runs);
  for (const auto& [s, n] : states) std::printf(" %s %d", s.c_str(), n);
  std::printf(" ), stages checked %d, faults:", checked);
  for (const auto& [f, n] : chaos.faults()) std::printf(" %s %d;", f.c_str(), n);
  std::printf(" violations %d\n", violations);
}

}  // namespace
}  // namespace gantry::e2e
