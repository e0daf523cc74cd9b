// gantry secret encrypt: a value read from stdin, encrypted with the
// controller's key, printed for a `secure_variables` entry in YAML.
#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

absl::StatusOr<int> Encrypt(CommandContext& ctx, bool keep_newline) {
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  // `echo secret | gantry secret encrypt` means "secret".
  if (!keep_newline && absl::EndsWith(value, "\n")) {
    value.pop_back();
    if (absl::EndsWith(value, "\r")) value.pop_back();
  }
  RETURN_IF_ERROR(RequireUtf8("the value", value));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::EncryptSecretRequest request;
  request.set_value(value);
  v1::EncryptSecretResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().EncryptSecret(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  ctx.out() << response.encrypted_value() << "\n";
  return kExitOk;
}

}  // namespace

void AddSecretCommands(CLI::App& app, Action* action) {
  CLI::App* secret = app.add_subcommand("secret", "Secure variables' values");
  secret->require_subcommand(1);
  auto keep_newline = std::make_shared<bool>(false);
  CLI::App* encrypt = secret->add_subcommand(
      "encrypt",
      "Encrypt a value read from stdin with the controller's key; print it for a "
      "secure_variables entry");
  encrypt->add_flag("--keep-newline", *keep_newline,
                    "keep a trailing newline of the input (dropped by default)");
  encrypt->callback([action, keep_newline] {
    *action = [keep_newline](CommandContext& ctx) { return Encrypt(ctx, *keep_newline); };
  });
}

}  // namespace gantry::cli
