#include "cli/connection.h"

#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/grpc_status.h"
#include "common/tls/client_tls.h"

namespace gantry::cli {
namespace {

std::string Trimmed(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Bytes gRPC accepts in a metadata value.
bool IsSendable(const std::string& token) {
  for (char c : token) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// 0.0.0.0:P is where a controller listens, not where a client can dial.
std::string LoopbackForWildcard(const std::string& address) {
  if (absl::StartsWith(address, "0.0.0.0:")) {
    return absl::StrCat("127.0.0.1", address.substr(7));
  }
  if (absl::StartsWith(address, "[::]:")) {
    return absl::StrCat("[::1]", address.substr(4));
  }
  return address;
}

bool IsLocalTarget(const std::string& target) {
  return absl::StartsWith(target, "unix:") || tls::IsLoopbackHost(tls::HostOf(target));
}

// Reads DATA_DIR/name trimmed; nullopt when the file is absent or empty.
std::optional<std::string> ReadDataDirFile(const std::string& path) {
  if (!FileExists(path)) return std::nullopt;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  std::string value = Trimmed(*text);
  if (value.empty()) return std::nullopt;
  return value;
}

std::string OneLine(std::string text) {
  text = std::string(absl::StripAsciiWhitespace(text));
  return absl::StrReplaceAll(text, {{"\r\n", "; "}, {"\n", "; "}});
}

bool IsTrue(const std::optional<std::string>& value) {
  if (!value) return false;
  std::string v = absl::AsciiStrToLower(Trimmed(*value));
  return v == "1" || v == "true" || v == "yes";
}

// The CA the controller must prove itself with, or plaintext (loopback
// only, as the controller allows).
absl::Status ResolveTrust(const ConnectionFlags& flags, const EnvLookup& env,
                          const std::string& data_dir, ConnectionSettings& settings) {
  if (flags.insecure || IsTrue(env("GANTRY_INSECURE"))) {
    settings.insecure = true;
    for (const ControllerTarget& target : settings.targets) {
      if (!IsLocalTarget(target.target)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--insecure (plaintext) is only for a controller on loopback, not ", target.Label()));
      }
    }
    return absl::OkStatus();
  }
  std::optional<std::string> env_ca = env("GANTRY_CA_FILE");
  std::string path;
  if (!flags.ca_file.empty()) {
    path = flags.ca_file;
    settings.ca_source = "--ca-file";
  } else if (env_ca && !Trimmed(*env_ca).empty()) {
    path = Trimmed(*env_ca);
    settings.ca_source = "$GANTRY_CA_FILE";
  } else if (FileExists(data_dir + "/tls/ca.crt")) {
    path = data_dir + "/tls/ca.crt";
    settings.ca_source = path;
  } else {
    settings.ca_source = "the system's CA certificates";
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read the CA file (", settings.ca_source, "): ", pem.status().message()));
  }
  settings.ca_pem = *pem;
  if (settings.ca_source != path) absl::StrAppend(&settings.ca_source, " ", path);
  return absl::OkStatus();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::Status ValidateAddress(const std::string& address) {
  return ValidateControllerAddress(address);
}

absl::StatusOr<ConnectionSettings> ResolveConnection(const ConnectionFlags& flags,
                                                     const EnvLookup& env) {
  ConnectionSettings settings;
  std::optional<std::string> env_data_dir = env("GANTRY_DATA_DIR");
  const std::string data_dir =
      env_data_dir && !env_data_dir->empty() ? *env_data_dir : kDefaultDataDir;

  // Address.
  std::optional<std::string> env_controller = env("GANTRY_CONTROLLER");
  if (!flags.controller.empty()) {
    settings.address = flags.controller;
    settings.address_source = "--controller";
  } else if (env_controller && !Trimmed(*env_controller).empty()) {
    settings.address = Trimmed(*env_controller);
    settings.address_source = "$GANTRY_CONTROLLER";
  } else if (std::optional<std::string> from_file =
                 ReadDataDirFile(data_dir + "/controller.addr")) {
    settings.address = *from_file;
    settings.address_source = data_dir + "/controller.addr";
  } else {
    settings.address = kDefaultControllerAddress;
    settings.address_source = "default";
  }
  std::vector<std::string> entries = absl::StrSplit(settings.address, ',');
  for (std::string& entry : entries) entry = LoopbackForWildcard(Trimmed(entry));
  settings.address = absl::StrJoin(entries, ",");
  absl::StatusOr<std::vector<ControllerTarget>> targets = ParseControllerTargets(settings.address);
  if (!targets.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(targets.status().message(), " (from ", settings.address_source, ")"));
  }
  settings.targets = *std::move(targets);

  // Token. Explicit flags beat the environment, which beats the data dir.
  std::optional<std::string> env_token = env("GANTRY_TOKEN");
  if (!flags.token.empty()) {
    settings.token = Trimmed(flags.token);
    settings.token_source = "--token";
  } else if (!flags.token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(flags.token_file);
    if (!text.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read --token-file: ", text.status().message()));
    }
    settings.token = Trimmed(*text);
    settings.token_source = flags.token_file;
    if (settings.token.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("token file ", flags.token_file, " is empty"));
    }
  } else if (env_token && !Trimmed(*env_token).empty()) {
    settings.token = Trimmed(*env_token);
    settings.token_source = "$GANTRY_TOKEN";
  } else if (std::optional<std::string> from_file = ReadDataDirFile(data_dir + "/admin.token")) {
    settings.token = *from_file;
    settings.token_source = data_dir + "/admin.token";
  }
  if (!IsSendable(settings.token)) {
    return absl::InvalidArgumentError(absl::StrCat("the token from ", settings.token_source,
                                                   " contains characters that cannot be sent"));
  }
  if (absl::Status s = ResolveTrust(flags, env, data_dir, settings); !s.ok()) {
    return s;
  }
  return settings;
}

Connection::Connection(ConnectionSettings settings, absl::Duration call_timeout,
                       absl::Duration probe_timeout)
    : settings_(std::move(settings)), call_timeout_(call_timeout), probe_timeout_(probe_timeout) {
  if (settings_.targets.empty()) {
    settings_.targets.push_back({settings_.address, settings_.address, ""});
  }
  Use(settings_.targets.front());
}

void Connection::Use(const ControllerTarget& target, std::shared_ptr<grpc::Channel> channel) {
  current_ = target;
  if (channel == nullptr) {
    grpc::ChannelArguments args;
    // Fail fast when the controller is down instead of waiting out backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    channel =
        DialController(target, {.insecure = settings_.insecure, .ca_pem = settings_.ca_pem}, args);
  }
  channel_ = std::move(channel);
  stub_ = gantry::v1::OperatorService::NewStub(channel_);
}

void Connection::FindLeader() {
  const std::vector<ControllerTarget>& targets = settings_.targets;
  if (targets.size() < 2) return;
  probe_note_.clear();
  std::optional<size_t> first_answer;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t i = 0; i < targets.size(); ++i) {
    Use(targets[i]);
    channels.push_back(channel_);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + probe_timeout_));
    gantry::v1::LeaderInfo info;
    grpc::Status status = stub_->GetLeader(&context, gantry::v1::GetLeaderRequest(), &info);
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNIMPLEMENTED) continue;
    if (!first_answer) first_answer = i;
    if (!status.ok()) continue;  // a controller from before leader election
    if (info.leader()) return;   // Use(targets[i]) stands
    const std::string& named = info.leader_address();
    // Plaintext goes to loopback only, wherever a controller points.
    if (named.empty() || (settings_.insecure && !IsLocalTarget(named))) continue;
    ControllerTarget leader = TargetForLeader(targets, named);
    for (size_t j = 0; j < channels.size(); ++j) {
      if (targets[j].target == leader.target) return Use(leader, channels[j]);
    }
    return Use(leader);
  }
  if (first_answer) return Use(targets[*first_answer], channels[*first_answer]);
  Use(targets.front(), channels.front());
  probe_note_ = absl::StrCat(" (no controller of ", settings_.address, " answered)");
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext() const {
  auto context = NewStreamContext();
  context->set_deadline(absl::ToChronoTime(absl::Now() + call_timeout_));
  return context;
}

std::unique_ptr<grpc::ClientContext> Connection::NewStreamContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!settings_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.token));
  }
  return context;
}

absl::Status Connection::Check(const grpc::Status& grpc_status) const {
  absl::Status status = FromGrpcStatus(grpc_status);
  if (status.ok()) return status;
  std::string detail = OneLine(std::string(status.message()));
  if (detail.empty()) detail = absl::StatusCodeToString(status.code());
  std::string message;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      if (IsNotLeader(detail)) {
        // A standby refusing a write: already says where the leader is.
        message = absl::StrCat("controller at ", address(), ": ", detail);
        break;
      }
      message = absl::StrCat("cannot reach controller at ", address(), ": ", detail, probe_note_);
      if (!settings_.insecure &&
          (absl::StrContains(detail, "andshake") || absl::StrContains(detail, "SSL") ||
           absl::StrContains(detail, "ertificate"))) {
        absl::StrAppend(&message, " (TLS: verified against ", settings_.ca_source,
                        "; give this controller's CA with --ca-file or "
                        "$GANTRY_CA_FILE, or set $GANTRY_DATA_DIR)");
      }
      break;
    case absl::StatusCode::kUnauthenticated:
      if (settings_.token.empty()) {
        message = absl::StrCat(
            "the controller refused the request: no token given (use "
            "--token, --token-file or $GANTRY_TOKEN, or set $GANTRY_DATA_DIR "
            "to the controller's data dir): ",
            detail);
      } else {
        message = absl::StrCat("the controller refused the token (from ", settings_.token_source,
                               ": ", detail, ")");
      }
      break;
    case absl::StatusCode::kDeadlineExceeded:
      message = absl::StrCat("the controller at ", address(), " did not answer within ",
                             absl::FormatDuration(call_timeout_));
      break;
    case absl::StatusCode::kCancelled:
      // What a call in flight sees when the controller shuts down.
      message = absl::StrCat("the controller at ", address(),
                             " cancelled the call (shutting down?): ", detail);
      break;
    case absl::StatusCode::kPermissionDenied:
      message = absl::StrCat("permission denied: ", detail);
      break;
    case absl::StatusCode::kUnimplemented:
      message = absl::StrCat("the controller at ", address(), " does not support this command (",
                             detail, ")");
      break;
    case absl::StatusCode::kInvalidArgument:
      // Config errors come one per line; the caller decides how to show them.
      message = std::string(absl::StripAsciiWhitespace(status.message()));
      if (message.empty()) message = detail;
      break;
    default:
      message = detail;
  }
  return absl::Status(status.code(), message);
}

bool IsRetriable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace gantry::cli
