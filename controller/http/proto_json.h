// Protobuf messages <-> JSON for the HTTP API, with the JSON mapping of
// `gantry -o json` (cli/format.cc: lowerCamelCase names, every field printed,
// bytes as base64, timestamps as RFC 3339), so a script reads the same
// document over HTTP as from the CLI. Printed on one line: an event stream's
// data must be.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/statusor.h"

namespace gantry::http {

std::string ToJson(const google::protobuf::Message& message);
// INVALID_ARGUMENT naming what is wrong for a body that is not the message.
absl::Status FromJson(const std::string& json, google::protobuf::Message* message);

// Sets the field called `name` (proto or JSON name) of `message` from text,
// as a path or query parameter: strings as they are, numbers and booleans
// parsed. INVALID_ARGUMENT for an unknown field or a bad value.
absl::Status SetField(google::protobuf::Message* message, const std::string& name,
                      const std::string& value);

}  // namespace gantry::http
