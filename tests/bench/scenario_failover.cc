// failover: two controllers on one PostgreSQL (docs/operations.md, "Two
// controllers on one database"). The first leads with N simulated agents
// connected, each given both addresses; the second stands by on the first's
// embedded PostgreSQL, its data dir seeded with the first's secrets. The
// leader is killed with -9, and the bench prints:
//   kill -> the standby serving (GetLeader says it leads)
//   kill -> every agent welcomed by it
// The lease timeout bounds the first; the agents' reconnect backoff and the
// new leader's load add to the second.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gantry/v1/operator.grpc.pb.h"
#include "tests/bench/bench.h"
#include "tests/bench/sim_agents.h"

namespace gantry::bench {
namespace {

absl::Status SeedSecrets(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(to, ec);
  fs::copy(from + "/tls", to + "/tls", fs::copy_options::recursive, ec);
  if (ec) return absl::InternalError(absl::StrCat("copy tls/: ", ec.message()));
  for (const char* file : {"cipher.key", "admin.token", "agent-register.key"}) {
    fs::copy_file(from + "/" + file, to + "/" + file, ec);
    if (ec) return absl::InternalError(absl::StrCat("copy ", file, ": ", ec.message()));
  }
  return absl::OkStatus();
}

// Whether the controller at `address` says it leads.
bool Leads(const std::string& address) {
  auto stub = v1::OperatorService::NewStub(grpc::CreateChannel(address, ControllerCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  v1::LeaderInfo info;
  return stub->GetLeader(&ctx, v1::GetLeaderRequest(), &info).ok() && info.leader();
}

}  // namespace

absl::Status RunFailover(const BenchOptions& options, Report& report) {
  const int agents = options.smoke ? 50 : options.failover_agents;
  const std::string lease = options.smoke ? "2s" : options.failover_lease_timeout;
  const std::string dir = options.work_dir + "/failover";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  ControllerOptions first;
  first.binary = options.controller_bin;
  first.data_dir = dir + "/a";
  first.log_level = options.log_level;
  first.extra_args = {"--lease-timeout", lease, "--http-listen", "127.0.0.1:0"};
  if (options.insecure) first.extra_args.push_back("--insecure");
  Controller a(first);
  if (auto st = a.Start(); !st.ok()) return st;
  auto conninfo = a.ConnInfo();
  if (!conninfo.ok()) return conninfo.status();

  ControllerOptions second = first;
  second.data_dir = dir + "/b";
  second.extra_args.push_back("--database-url");
  second.extra_args.push_back(*conninfo);
  if (auto st = SeedSecrets(first.data_dir, second.data_dir); !st.ok()) return st;
  Controller b(second);
  if (auto st = b.Start(); !st.ok()) return st;
  if (Leads(b.address())) return absl::InternalError("the second controller leads at once");

  FleetOptions fo;
  fo.address = absl::StrCat(a.address(), ",", b.address());
  fo.dial_per_attempt = true;
  fo.channels = agents;
  fo.name_prefix = "failover";
  if (options.smoke) fo.backoff.max = absl::Seconds(1);
  Fleet fleet(fo, {});
  if (auto st = fleet.Register(agents, a.register_key(), 32); !st.ok()) return st;
  fleet.ConnectAll();
  if (!fleet.WaitWelcomed(agents, absl::Minutes(5))) {
    return absl::DeadlineExceededError(absl::StrCat("only ", fleet.counters().welcomed_now, " of ",
                                                    agents, " agents were welcomed"));
  }
  const int64_t welcomes_before = fleet.counters().welcomes;
  spdlog::info("failover: {} agents on the leader; killing it", agents);

  absl::Time killed = absl::Now();
  ::kill(a.pid(), SIGKILL);
  absl::Time serving = absl::InfiniteFuture();
  while (absl::Now() - killed < absl::Minutes(2)) {
    if (Leads(b.address())) {
      serving = absl::Now();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling GetLeader
  }
  if (serving == absl::InfiniteFuture()) {
    return absl::DeadlineExceededError("the standby did not take over within 2 minutes");
  }
  if (!fleet.WaitCounters(
          [&](const FleetCounters& c) {
            return c.welcomed_now == agents && c.welcomes >= welcomes_before + agents;
          },
          absl::Minutes(5))) {
    return absl::DeadlineExceededError(absl::StrCat("only ", fleet.counters().welcomed_now, " of ",
                                                    agents, " agents were welcomed again"));
  }
  absl::Time all_welcomed = fleet.counters().last_welcome;

  report.Add("failover.agents", agents, "agents");
  report.Set("failover.lease_timeout", lease);
  report.Add("failover.kill_to_serving", absl::ToDoubleSeconds(serving - killed), "s");
  report.Add("failover.kill_to_all_welcomed", absl::ToDoubleSeconds(all_welcomed - killed), "s");
  report.Add("failover.serving_to_all_welcomed", absl::ToDoubleSeconds(all_welcomed - serving),
             "s");

  fleet.Shutdown();
  // The first controller's embedded PostgreSQL outlived it: the standby
  // steps down (releasing the lease), the first starts again on it, takes
  // the lease back and stops its cluster with itself.
  if (auto st = b.Stop(); !st.ok()) spdlog::warn("failover: {}", st.ToString());
  if (auto st = a.Start(); !st.ok()) return st;
  if (auto st = a.Stop(); !st.ok()) spdlog::warn("failover: {}", st.ToString());
  if (!options.keep) std::filesystem::remove_all(dir, ec);
  return absl::OkStatus();
}

}  // namespace gantry::bench
