#include "controller/controller_flags.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/config/duration.h"
#include "common/tls/client_tls.h"

namespace gantry {
namespace {

absl::StatusOr<absl::Duration> DurationFlag(const std::string& name, const std::string& text) {
  std::optional<absl::Duration> d = config::ParseDuration(text, absl::Seconds(1));
  if (!d || *d == absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " '", text, "': expected seconds or ",
                                                   config::kDurationSyntax, ", above zero"));
  }
  return *d;
}

}  // namespace

// Every flag is checked before anything is written. Returns an exit code
// when the controller should not run (--help, a bad flag).
std::optional<int> ParseFlags(int argc, char** argv, ControllerFlags& flags) {
  CLI::App app{"gantry-controller: the Gantry continuous-delivery controller"};
  app.add_option("--data-dir", flags.data_dir, "state directory (tokens, embedded PostgreSQL)")
      ->required();
  app.add_option("--listen", flags.listen,
                 "address to serve agents and operators on (port 0: any)");
  app.add_option("--database-url", flags.database_url,
                 "PostgreSQL connection URL; without it an embedded cluster runs under DIR/pg");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--pg-user", flags.pg_user, "user the embedded PostgreSQL runs as when root");
  app.add_option("--agent-lost-timeout", flags.agent_lost_timeout_flag,
                 "agent silence before its job is lost: seconds or a duration (30s, 2m)");
  app.add_option("--heartbeat-interval", flags.heartbeat_interval_flag,
                 "between agent heartbeats: seconds or a duration (5s, 500ms)");
  app.add_option("--max-console-mib", flags.max_console_mib,
                 "console log kept per job attempt, in MiB; later output is dropped after a "
                 "truncation marker (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-transport-mib", flags.max_transport_mib,
                 "memory gRPC may hold in connection buffers, in MiB; near it, flow-control "
                 "windows shrink and fast senders are held back (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-pending-agents", flags.max_pending_agents,
                 "agents waiting for approval at most; past it a registration without a valid "
                 "register key is refused (0: none is accepted)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--register-rate-per-source", flags.register_rate_per_source,
                 "registrations without a valid register key a minute from one address")
      ->check(CLI::PositiveNumber);
  app.add_option("--register-rate-total", flags.register_rate_total,
                 "registrations without a valid register key a minute from all addresses")
      ->check(CLI::PositiveNumber);
  app.add_option("--material-poll-interval", flags.material_poll_interval_flag,
                 "between polls of each git material (jittered ±10%, backed off on failure)");
  app.add_option("--git-timeout", flags.git_timeout_flag,
                 "longest a git command (fetch, log) may run before it is killed");
  app.add_option("--webhook-secret-file", flags.webhook_secret_file,
                 "file holding the shared secret of push webhooks from GitHub, GitLab and Gitea "
                 "(POST /api/v1/webhooks/...); without it every delivery is refused");
  CLI::Option* http_listen =
      app.add_option("--http-listen", flags.http_listen,
                     "address to serve the dashboard, the JSON API and /metrics on (port 0: any; "
                     "\"\": no HTTP)");
  app.add_flag("--http-plaintext", flags.http_plaintext,
               "serve --http-listen without TLS although gRPC has it (a proxy in front "
               "terminates TLS): only on a loopback address");
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate (chain) to serve instead of the one made from the "
                 "controller's CA under DIR/tls");
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-san", flags.tls_sans,
                 "another name (DNS name or IP address) the served certificate covers; "
                 "repeat or comma-separate")
      ->delimiter(',');
  app.add_flag("--insecure", flags.insecure,
               "serve plaintext, without TLS: only on a loopback --listen address");
  app.add_flag("--agent-token-auth", flags.agent_token_auth,
               "also accept agents that present no client certificate, on their token alone "
               "(weaker: for simulated agents and agents registered before agent "
               "certificates; warned about at every start)");
  app.add_option("--cipher-key-file", flags.cipher_key_file,
                 "key of secure variables (base64, newest first) for controllers sharing a "
                 "database; else $GANTRY_CIPHER_KEY, else DIR/cipher.key (made on first start)");
  app.add_option("--retain-runs", flags.retain_runs,
                 "retention: the newest N runs of each pipeline keep their artifacts and "
                 "console logs, however old (0: this rule keeps none)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retain-days", flags.retain_days,
                 "retention: runs finished in the last D days keep their files (0: this rule "
                 "keeps none; both 0: retention off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retain-deploys", flags.retain_deploys,
                 "retention: the newest N deploys of each environment, and the runs they took "
                 "as materials, keep their files (rollback targets)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retention-interval", flags.retention_interval_flag,
                 "between retention passes: seconds or a duration (10m, 1h)");
  app.add_option("--lease-timeout", flags.lease_timeout_flag,
                 "leader lease: a standby takes over this long after the leader stopped "
                 "renewing (died, stalled, lost the database); seconds or a duration");
  app.add_option("--advertise-address", flags.advertise_address,
                 "host:port clients reach this controller at, told to them by a standby "
                 "(default: the listen address)");
  CLI11_PARSE(app, argc, argv);
  flags.http_listen_given = http_listen->count() > 0;
  if (flags.insecure && !tls::IsLoopbackHost(tls::HostOf(flags.listen))) {
    std::cerr << "gantry-controller: --insecure is only allowed on a loopback --listen address "
                 "(127.0.0.1, ::1, localhost), not '"
              << flags.listen << "'\n";
    return 2;
  }
  // The dashboard's sign-in carries a token: plain HTTP stays on loopback.
  if ((flags.insecure || flags.http_plaintext) && !flags.http_listen.empty() &&
      !tls::IsLoopbackHost(tls::HostOf(flags.http_listen))) {
    std::cerr << "gantry-controller: plain HTTP ("
              << (flags.insecure ? "--insecure" : "--http-plaintext")
              << ") is only allowed on a loopback --http-listen address, not '" << flags.http_listen
              << "'\n";
    return 2;
  }
  if (flags.insecure && (!flags.tls_cert.empty() || !flags.tls_key.empty())) {
    std::cerr << "gantry-controller: --insecure cannot be given with --tls-cert/--tls-key\n";
    return 2;
  }
  // Every duration flag takes the same strings; each is checked here.
  struct DurationOption {
    const char* name;
    const std::string& text;
    absl::Duration* out;
  };
  for (const DurationOption& d :
       {DurationOption{"--agent-lost-timeout", flags.agent_lost_timeout_flag,
                       &flags.agent_lost_timeout},
        DurationOption{"--heartbeat-interval", flags.heartbeat_interval_flag,
                       &flags.heartbeat_interval},
        DurationOption{"--material-poll-interval", flags.material_poll_interval_flag,
                       &flags.material_poll_interval},
        DurationOption{"--git-timeout", flags.git_timeout_flag, &flags.git_timeout},
        DurationOption{"--retention-interval", flags.retention_interval_flag,
                       &flags.retention_interval},
        DurationOption{"--lease-timeout", flags.lease_timeout_flag, &flags.lease_timeout}}) {
    absl::StatusOr<absl::Duration> parsed = DurationFlag(d.name, d.text);
    if (!parsed.ok()) {
      std::cerr << "gantry-controller: " << parsed.status().message() << "\n";
      return 2;
    }
    *d.out = *parsed;
  }
  if (flags.lease_timeout < absl::Seconds(1)) {
    std::cerr << "gantry-controller: --lease-timeout (" << flags.lease_timeout_flag
              << ") must be at least 1s\n";
    return 2;
  }
  if (flags.agent_lost_timeout <= flags.heartbeat_interval) {
    std::cerr << "gantry-controller: --agent-lost-timeout (" << flags.agent_lost_timeout_flag
              << ") must be longer than --heartbeat-interval (" << flags.heartbeat_interval_flag
              << ")\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace gantry
