#include "agent/identity.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace gantry::agent {
namespace {

// The file is JSON so operators can read it; protobuf's Struct does the
// parsing so no extra JSON library is needed.
std::string StringField(const google::protobuf::Struct& s,
                        const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

}  // namespace

absl::StatusOr<AgentIdentity> LoadIdentity(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  google::protobuf::Struct s;
  auto parsed = google::protobuf::util::JsonStringToMessage(text, &s);
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": not valid JSON: ", std::string(parsed.message())));
  }
  AgentIdentity identity;
  identity.agent_id = StringField(s, "agent_id");
  identity.token = StringField(s, "token");
  identity.name = StringField(s, "name");
  if (identity.agent_id.empty() || identity.token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": agent_id or token missing"));
  }
  return identity;
}

absl::Status SaveIdentity(const std::string& path,
                          const AgentIdentity& identity) {
  google::protobuf::Struct s;
  auto& fields = *s.mutable_fields();
  fields["agent_id"].set_string_value(identity.agent_id);
  fields["token"].set_string_value(identity.token);
  fields["name"].set_string_value(identity.name);
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  auto printed = google::protobuf::util::MessageToJsonString(s, &text, options);
  if (!printed.ok()) {
    return absl::InternalError(std::string(printed.message()));
  }
  return WriteFileAtomic(path, text, 0600);
}

}  // namespace gantry::agent
