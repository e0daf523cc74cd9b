// What every `gantry` command runs with: the output streams, the output
// format, a lazily opened connection to the controller, a clock and the
// polling cadence. Commands are functions of a CommandContext returning an
// exit status (or an error the caller prints as one line).
#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/connection.h"

namespace CLI {
class App;
}

namespace gantry::cli {

enum class OutputFormat { kText, kJson };

// Exit statuses (also documented in docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitAwaitingApproval = 3;

// Knobs tests turn; the defaults are what the real binary uses.
struct CliOptions {
  EnvLookup env = ProcessEnv();
  absl::TimeZone time_zone = absl::LocalTimeZone();
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Per-call deadline.
  absl::Duration call_timeout = absl::Seconds(30);
  // Between polls of --wait and --follow when nothing changed.
  absl::Duration poll_interval = absl::Milliseconds(200);
  // How long --wait/--follow keep retrying while the controller is
  // unreachable before giving up.
  absl::Duration retry_budget = absl::Minutes(2);
};

class CommandContext {
 public:
  CommandContext(std::ostream& out, std::ostream& err, OutputFormat format,
                 ConnectionFlags flags, const CliOptions& options);

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json() const { return format_ == OutputFormat::kJson; }
  const CliOptions& options() const { return options_; }
  absl::Time Now() const { return options_.now(); }
  absl::TimeZone time_zone() const { return options_.time_zone; }

  // Resolves the address and token and opens the channel on first use.
  absl::StatusOr<Connection*> connection();
  // Where the controllers are, resolved as connection() does, without
  // dialling or asking which one leads (`controller status` asks each).
  absl::StatusOr<ConnectionSettings> connection_settings();

  // Writes `message` as one protobuf JSON document to out().
  absl::Status PrintJson(const google::protobuf::Message& message);

  // Repeats `call` while it fails with a retriable error (the controller
  // restarting, a timeout), for at most the retry budget of continuous
  // failure. Notes the first failure of an outage on err() so a long wait
  // does not look hung. Used by the polling loops only.
  absl::Status CallWithRetry(const std::function<absl::Status()>& call);

 private:
  std::ostream& out_;
  std::ostream& err_;
  OutputFormat format_;
  ConnectionFlags flags_;
  const CliOptions& options_;
  std::unique_ptr<Connection> connection_;
};

// OK if `text` is UTF-8, as every string the CLI sends must be (protobuf
// refuses the request otherwise, with an error that names nothing). Else
// "<what> '<text>': invalid UTF-8: byte 0xff at byte 5".
absl::Status RequireUtf8(const std::string& text, const std::string& what);

// A parsed command, ready to run. Returns the exit status, or an error
// printed as `gantry: <message>` with exit status 1.
using Action = std::function<absl::StatusOr<int>(CommandContext&)>;

// Each adds its noun and verbs to `app`. Parsing a verb stores the command to
// run in `*action`.
void AddConfigCommands(CLI::App& app, Action* action);
void AddPipelineCommands(CLI::App& app, Action* action);
// `pipeline vsm` (commands_vsm.cc), under the `pipeline` command.
void AddVsmCommand(CLI::App& pipeline, Action* action);
void AddStageCommands(CLI::App& app, Action* action);
void AddJobCommands(CLI::App& app, Action* action);
void AddAgentCommands(CLI::App& app, Action* action);
void AddArtifactCommands(CLI::App& app, Action* action);
void AddIdentityCommands(CLI::App& app, Action* action);
void AddEnvCommands(CLI::App& app, Action* action);
void AddMaterialCommands(CLI::App& app, Action* action);  // commands_material.cc
void AddRollbackCommands(CLI::App& app, Action* action);  // commands_rollback.cc
void AddSecretCommands(CLI::App& app, Action* action);    // commands_secret.cc
void AddControllerCommands(CLI::App& app, Action* action);  // commands_controller.cc
void AddCompletionCommand(CLI::App& app, Action* action);  // commands_completion.cc

}  // namespace gantry::cli
