#include "cli/command.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/format.h"
#include "common/config/utf8.h"
#include "common/status_macros.h"

namespace gantry::cli {

absl::Status RequireUtf8(const std::string& text, const std::string& what) {
  std::optional<config::Utf8Error> bad = config::FindInvalidUtf8(text);
  if (!bad) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, " '", config::ToValidUtf8(text), "': ", bad->message, " at byte ", bad->offset + 1));
}

CommandContext::CommandContext(std::ostream& out, std::ostream& err,
                               OutputFormat format, ConnectionFlags flags,
                               const CliOptions& options)
    : out_(out),
      err_(err),
      format_(format),
      flags_(std::move(flags)),
      options_(options) {}

absl::StatusOr<Connection*> CommandContext::connection() {
  if (connection_ == nullptr) {
    ASSIGN_OR_RETURN(ConnectionSettings settings,
                     ResolveConnection(flags_, options_.env));
    connection_ = std::make_unique<Connection>(std::move(settings),
                                               options_.call_timeout);
    connection_->FindLeader();
  }
  return connection_.get();
}

absl::StatusOr<ConnectionSettings> CommandContext::connection_settings() {
  return ResolveConnection(flags_, options_.env);
}

absl::Status CommandContext::PrintJson(
    const google::protobuf::Message& message) {
  ASSIGN_OR_RETURN(std::string json, ToJson(message));
  out_ << json;
  out_.flush();
  return absl::OkStatus();
}

absl::Status CommandContext::CallWithRetry(
    const std::function<absl::Status()>& call) {
  absl::Time outage_start = absl::InfinitePast();
  absl::Duration backoff = options_.poll_interval;
  while (true) {
    absl::Status status = call();
    if (status.ok() || !IsRetriable(status)) return status;
    absl::Time now = absl::Now();
    if (outage_start == absl::InfinitePast()) {
      outage_start = now;
      err_ << "gantry: " << status.message() << " (retrying)\n";
      err_.flush();
    } else if (now - outage_start > options_.retry_budget) {
      return status;
    }
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(2));
    // The leader may have changed (a takeover): ask again where it is.
    if (connection_ != nullptr) connection_->FindLeader();
  }
}

}  // namespace gantry::cli
