// gantry-agent: dials the controller, registers once, runs assigned jobs.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "agent/controller_trust.h"
#include "agent/session.h"
#include "common/controller_targets.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/process_setup.h"
#include "spdlog/spdlog.h"

namespace {

std::string Hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

struct AgentFlags {
  gantry::agent::SessionOptions options;
  std::string key_file;
  gantry::agent::TrustFlags trust;
  std::string log_level = "info";
};

// Parses the command line into `flags`; an exit code when the agent should
// not run (--help, a bad flag).
std::optional<int> ParseFlags(int argc, char** argv, AgentFlags& flags) {
  gantry::agent::SessionOptions& options = flags.options;
  CLI::App app{"gantry-agent: runs Gantry jobs for a controller"};
  app.add_option("--controller", options.controller_address,
                 "controller gRPC address, host:port; or several, comma-separated (the agent "
                 "follows the leader); a name with several addresses counts as several")
      ->required();
  app.add_option("--work-dir", options.work_dir, "where the agent keeps its identity and runs jobs")
      ->required();
  app.add_option("--register-key-file", flags.key_file,
                 "file holding the controller's auto-register key (needed "
                 "until the agent has registered)");
  app.add_option("--resources", options.resources, "resources this agent offers, comma-separated")
      ->delimiter(',');
  app.add_option("--environments", options.environments,
                 "environments this agent belongs to, comma-separated")
      ->delimiter(',');
  app.add_option("--name", options.name, "agent name (default: hostname)");
  double kill_grace_seconds = absl::ToDoubleSeconds(options.runner.kill_grace);
  app.add_option("--kill-grace", kill_grace_seconds,
                 "seconds a cancelled or timed-out task gets after SIGTERM before SIGKILL")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--ca-file", flags.trust.ca_file,
                 "PEM CA the controller's certificate must chain to (its DATA_DIR/tls/ca.crt); "
                 "kept in the work dir");
  app.add_option("--ca-fingerprint", flags.trust.ca_fingerprint,
                 "sha256:… of the controller's CA, as it prints at start: the CA is fetched "
                 "once, checked against it and kept in the work dir");
  app.add_flag("--insecure", flags.trust.insecure,
               "talk plaintext to a controller started with --insecure (loopback only)");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  options.runner.kill_grace = absl::Seconds(kill_grace_seconds);
  return std::nullopt;
}

// Fills in the hostname, the default name and the register key.
bool CompleteOptions(AgentFlags& flags) {
  gantry::agent::SessionOptions& options = flags.options;
  options.hostname = Hostname();
  if (options.name.empty()) options.name = options.hostname;
  if (flags.key_file.empty()) return true;
  auto key = gantry::ReadFile(flags.key_file);
  if (!key.ok()) {
    spdlog::error("cannot read the register key: {}", key.status().ToString());
    return false;
  }
  options.register_key = std::string(absl::StripAsciiWhitespace(*key));
  return true;
}

// SIGTERM/SIGINT are handled by one thread with sigwait; block them before
// any other thread exists so they all inherit the mask. Children get the
// default mask back (common/process).
sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

// Stops `session` on every SIGTERM/SIGINT (a second one aborts the job).
void StopOnSignals(gantry::agent::Session& session, sigset_t stop_signals) {
  std::thread([&session, stop_signals] {
    while (true) {
      int sig = 0;
      if (sigwait(&stop_signals, &sig) != 0) continue;
      spdlog::info("received {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      session.Stop();
    }
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  gantry::TuneMallocForStreaming();
  AgentFlags flags;
  if (std::optional<int> exit_code = ParseFlags(argc, argv, flags)) return *exit_code;
  gantry::SetupLogging("agent", flags.log_level);
  if (!CompleteOptions(flags)) return 1;
  auto controllers = gantry::ParseControllerTargets(flags.options.controller_address);
  if (!controllers.ok()) {
    spdlog::error("--controller: {}", std::string(controllers.status().message()));
    return 1;
  }
  flags.options.controllers = *controllers;
  // Before the stop signals are blocked: fetching a pinned CA from a
  // controller not up yet retries, and SIGTERM must still end it.
  auto trust = gantry::agent::ResolveControllerTrust(flags.trust, flags.options.work_dir,
                                                     flags.options.controllers);
  if (!trust.ok()) {
    spdlog::error("{}", std::string(trust.status().message()));
    return 1;
  }
  flags.options.tls = *trust;
  sigset_t stop_signals = BlockStopSignals();

  const gantry::agent::SessionOptions& options = flags.options;
  gantry::agent::Session session(options);
  StopOnSignals(session, stop_signals);
  spdlog::info("gantry-agent {} starting: controller {}, work dir {}", options.name,
               options.controller_address, options.work_dir);
  absl::Status status = session.Run();
  if (!status.ok()) {
    spdlog::error("{}", status.ToString());
    return 1;
  }
  return 0;
}
