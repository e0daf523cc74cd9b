// materials: the cost of polling git materials (issue 17 point 9,
// docs/performance.md). N pipelines (1,000 by default), each with a git
// material of its own bare repository on local disk (file:// URLs), polled
// every --materials-interval (60 s by default, GoCD's). After every
// pipeline's first run was triggered by its first fetch, the controller's
// CPU is measured over --materials-window (3 intervals by default):
//
//   materials.controller_cpu_share   the controller process (poller threads,
//                                    scheduling), % of one core
//   materials.git_cpu_share          the git processes it ran (fetch and
//                                    upload-pack, reaped children), % of a core
//   materials.postgres_cpu_share     its embedded PostgreSQL, % of a core
//
// No agent is connected: the first runs wait, and nothing else happens.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/git/test_repo.h"
#include "tests/bench/bench.h"
#include "tests/bench/operator_client.h"

namespace gantry::bench {
namespace {

// utime+stime and cutime+cstime (children waited for) of `pid`, seconds.
std::pair<double, double> OwnAndChildrenCpu(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {0, 0};
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; rest >> s;) f.push_back(s);
  if (f.size() < 15) return {0, 0};
  int64_t v[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) (void)absl::SimpleAtoi(f[11 + i], &v[i]);
  double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  return {(v[0] + v[1]) / tck, (v[2] + v[3]) / tck};
}

std::string MaterialPipelines(const std::string& repos, int count) {
  std::string yaml = "format_version: 10\npipelines:\n";
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&yaml, "  m", i,
                    ":\n"
                    "    group: bench\n"
                    "    materials:\n"
                    "      src:\n"
                    "        git: file://",
                    repos, "/r", i,
                    ".git\n"
                    "        branch: main\n"
                    "    stages:\n"
                    "      - s:\n"
                    "          jobs:\n"
                    "            j:\n"
                    "              tasks:\n"
                    "                - exec: {command: \"true\"}\n");
  }
  return yaml;
}

}  // namespace

absl::Status RunMaterials(const BenchOptions& options, Report& report) {
  const int n = options.smoke ? 20 : options.materials;
  const double interval_s = options.smoke ? 2 : options.materials_interval_s;
  const double window_s = options.smoke ? 4 : options.materials_window_s;
  std::string dir = options.work_dir + "/materials";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string repos = dir + "/repos";

  // One repository with a commit, copied N times: each copy is a URL of
  // its own, so N mirrors and N fetches per interval.
  {
    git::TestRepo source(dir + "/source", "template");
    source.Commit("the only commit");
    std::filesystem::create_directories(repos);
    for (int i = 0; i < n; ++i) {
      std::filesystem::copy(source.bare_path(), absl::StrCat(repos, "/r", i, ".git"),
                            std::filesystem::copy_options::recursive, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot copy a repository: ", ec.message()));
    }
  }

  ControllerOptions co;
  co.binary = options.controller_bin;
  co.data_dir = dir + "/controller";
  co.log_level = options.log_level;
  co.extra_args = {"--material-poll-interval", absl::StrCat(interval_s, "s"), "--http-listen", ""};
  if (options.insecure) co.extra_args.push_back("--insecure");
  Controller controller(co);
  if (auto st = controller.Start(); !st.ok()) return st;
  Operator op(controller.address(), controller.admin_token());
  if (auto r = op.ApplyConfig(MaterialPipelines(repos, n)); !r.ok()) return r.status();

  // Warm-up: every material fetched once (its pipeline's first run made).
  absl::Time t0 = absl::Now();
  absl::Time deadline = t0 + absl::Seconds(interval_s * 3 + 120);
  for (int i = 0; i < n; ++i) {
    while (!op.GetRun(absl::StrCat("m", i), 1).ok()) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("pipeline m", i, " was never triggered by its first fetch"));
      }
      absl::SleepFor(absl::Milliseconds(100));  // a bench, not a test: polls the API
    }
  }
  absl::Duration first_fetches = absl::Now() - t0;

  auto [own0, children0] = OwnAndChildrenCpu(controller.pid());
  double pg0 = controller.PostgresCpuSeconds();
  absl::Time w0 = absl::Now();
  absl::SleepFor(absl::Seconds(window_s));  // the measured window
  auto [own1, children1] = OwnAndChildrenCpu(controller.pid());
  double pg1 = controller.PostgresCpuSeconds();
  double elapsed = absl::ToDoubleSeconds(absl::Now() - w0);

  report.Add("materials.count", n, "materials");
  report.Add("materials.interval", interval_s, "s");
  report.Add("materials.window", elapsed, "s");
  report.Add("materials.first_fetch_all", absl::ToDoubleSeconds(first_fetches), "s",
             "config applied to every pipeline's first run triggered");
  report.Add("materials.fetches_per_second", n / interval_s, "fetches/s", "expected");
  report.Add("materials.controller_cpu_share", 100.0 * (own1 - own0) / elapsed, "%",
             "controller process, of one core; target < 5 %");
  report.Add("materials.git_cpu_share", 100.0 * (children1 - children0) / elapsed, "%",
             "git fetch + upload-pack children, of one core");
  report.Add("materials.postgres_cpu_share", 100.0 * (pg1 - pg0) / elapsed, "%",
             "embedded PostgreSQL, of one core");
  report.Add("materials.controller_rss", controller.RssKiB() / 1024.0, "MiB");
  report.Add("materials.controller_threads", controller.Threads(), "threads");
  if (auto st = controller.Stop(); !st.ok()) spdlog::warn("{}", st.ToString());
  if (!options.keep) std::filesystem::remove_all(dir, ec);
  return absl::OkStatus();
}

}  // namespace gantry::bench
