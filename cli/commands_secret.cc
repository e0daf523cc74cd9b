// gantry secret encrypt: a value read from stdin, encrypted with the
// controller's key, printed for a `secure_variables` entry in YAML.
// gantry secret rotate-key: a new key, every stored secure value
// re-encrypted under it (admins).
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

absl::StatusOr<int> RotateKey(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::RotateCipherKeyRequest request;
  v1::RotateCipherKeyResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().RotateCipherKey(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  ctx.out() << "cipher key rotated: " << response.old_key_id() << " -> " << response.new_key_id()
            << " (" << response.key_file() << ")\n"
            << "re-encrypted: " << response.config_files() << " in config files, "
            << response.config_diffs() << " in config diffs, " << response.run_variables()
            << " secure run variables\n";
  if (response.undecryptable() > 0) {
    ctx.out() << response.undecryptable()
              << " stored value(s) could not be decrypted (a key this controller does not "
                 "hold) and were left as they were\n";
  }
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
  CLI::App* rotate = secret->add_subcommand(
      "rotate-key",
      "Admins: make a new cipher key and re-encrypt every stored secure value under it");
  rotate->callback([action] { *action = [](CommandContext& ctx) { return RotateKey(ctx); }; });
}

}  // namespace gantry::cli
