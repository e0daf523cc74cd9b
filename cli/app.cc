#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "cli/completion.h"

namespace gantry::cli {
namespace {

constexpr char kDescription[] =
    "gantry: the command line of the Gantry continuous-delivery server.\n"
    "The controller is --controller, else $GANTRY_CONTROLLER, else "
    "$GANTRY_DATA_DIR/controller.addr, else 127.0.0.1:8150.\n"
    "The token is --token or --token-file, else $GANTRY_TOKEN, else "
    "$GANTRY_DATA_DIR/admin.token ($GANTRY_DATA_DIR defaults to "
    "./gantry-data).\n"
    "TLS: the controller is verified with --ca-file, else $GANTRY_CA_FILE, "
    "else $GANTRY_DATA_DIR/tls/ca.crt, else the system's CAs; --insecure or "
    "$GANTRY_INSECURE=1 for a plaintext controller on loopback.";

void PrintError(std::ostream& err, const std::string& message) {
  std::string line(absl::StripAsciiWhitespace(message));
  line = absl::StrReplaceAll(line, {{"\r\n", "; "}, {"\n", "; "}});
  err << "gantry: " << line << "\n";
  err.flush();
}

// Every noun, verb and global flag of `gantry`, on `app`.
void BuildApp(CLI::App& app, ConnectionFlags& flags, std::string& output, Action& action) {
  // Global flags may also follow the verb: `gantry pipeline list -o json`.
  app.fallthrough();
  app.require_subcommand(1);

  app.add_option("--controller", flags.controller, "Controller address HOST:PORT");
  CLI::Option* token = app.add_option("--token", flags.token, "Bearer token for the operator API");
  app.add_option("--token-file", flags.token_file, "Read the token from a file")->excludes(token);
  app.add_option("--ca-file", flags.ca_file,
                 "CA certificate (PEM) the controller must prove itself with");
  app.add_flag("--insecure", flags.insecure,
               "Plaintext, for a controller started with --insecure (loopback only)");
  app.add_option("-o,--output", output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}));

  AddConfigCommands(app, &action);
  AddPipelineCommands(app, &action);
  AddStageCommands(app, &action);
  AddJobCommands(app, &action);
  AddArtifactCommands(app, &action);
  AddAgentCommands(app, &action);
  AddIdentityCommands(app, &action);
  AddEnvCommands(app, &action);
  AddMaterialCommands(app, &action);
  AddRollbackCommands(app, &action);
  AddSecretCommands(app, &action);
  AddControllerCommands(app, &action);
  AddCompletionCommand(app, &action);
}

// `gantry __complete WORD...`, called by the completion scripts: one
// candidate per line, never an error (a TAB must not print one).
int RunComplete(const std::vector<std::string>& words, std::ostream& out,
                const CliOptions& options) {
  CLI::App app(kDescription, "gantry");
  ConnectionFlags flags;
  std::string output;
  Action action;
  BuildApp(app, flags, output, action);
  // The connection flags typed so far say which controller to ask.
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    const std::string& v = words[i + 1];
    if (w == "--controller") flags.controller = v;
    if (w == "--token") flags.token = v;
    if (w == "--token-file") flags.token_file = v;
    if (w == "--ca-file") flags.ca_file = v;
    if (w == "--insecure") flags.insecure = true;
  }
  CliOptions quick = options;
  quick.call_timeout = absl::Seconds(2);
  std::ostringstream ignored;
  CommandContext context(ignored, ignored, OutputFormat::kText, flags, quick);
  for (const std::string& candidate : Complete(app, words, [&](NameKind kind) {
         absl::StatusOr<std::vector<std::string>> names = ControllerNames(context, kind);
         return names.ok() ? *names : std::vector<std::string>();
       })) {
    out << candidate << "\n";
  }
  out.flush();
  return kExitOk;
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CliOptions& options) {
  if (!args.empty() && args[0] == "__complete") {
    return RunComplete(std::vector<std::string>(args.begin() + 1, args.end()), out, options);
  }
  CLI::App app(kDescription, "gantry");
  ConnectionFlags flags;
  std::string output = "text";
  Action action;
  BuildApp(app, flags, output, action);

  std::vector<const char*> argv;
  argv.push_back("gantry");
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    PrintError(err, std::string(e.what()) + " (see gantry --help)");
    return kExitUsage;
  }
  if (!action) {
    PrintError(err, "no command given (see gantry --help)");
    return kExitUsage;
  }

  CommandContext context(out, err, output == "json" ? OutputFormat::kJson : OutputFormat::kText,
                         flags, options);
  try {
    absl::StatusOr<int> result = action(context);
    out.flush();
    if (!result.ok()) {
      PrintError(err, std::string(result.status().message()));
      return kExitFailure;
    }
    return *result;
  } catch (const std::exception& e) {
    PrintError(err, std::string("internal error: ") + e.what());
    return kExitFailure;
  }
}

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return RunCli(args, out, err);
}

}  // namespace gantry::cli
