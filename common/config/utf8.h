// Where text stops being UTF-8. Config files and everything the CLI sends in
// protobuf `string` fields must be UTF-8; protobuf would otherwise refuse the
// message with an error that names neither the field nor the place.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace gantry::config {

struct Utf8Error {
  size_t offset = 0;  // of the first byte that is not part of a valid sequence
  int line = 1;       // 1-based
  int column = 1;     // 1-based, in bytes (as the YAML parser counts)
  // "invalid UTF-8: byte 0xff", one line.
  std::string message;
};

// The first invalid sequence in `text`, or nullopt if it is all UTF-8.
// Overlong forms, surrogates and code points past U+10FFFF are invalid.
std::optional<Utf8Error> FindInvalidUtf8(absl::string_view text);

// `text` with each byte that is not part of a valid sequence replaced by '?':
// for messages that quote or cut what they were given.
std::string ToValidUtf8(absl::string_view text);

}  // namespace gantry::config
