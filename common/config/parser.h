// Parses and validates config files. Every problem is reported, not just the
// first, each as `file:line:col: message`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/model.h"

namespace gantry::config {

struct ConfigError {
  SourceLocation location;
  std::string message;

  // "file:line:col: message"
  std::string ToString() const;
};

struct ParseResult {
  Config config;
  std::vector<ConfigError> errors;  // empty means valid

  bool ok() const { return errors.empty(); }
  // All errors, one per line, sorted by file, line and column.
  std::string ErrorText() const;
};

// Parses all files as one configuration: pipeline and environment names are
// global across files; cross-references (materials, fetch, environments) are
// checked across the whole set.
ParseResult ParseConfig(const std::vector<ConfigFile>& files);

// Convenience: ParseConfig, with INVALID_ARGUMENT carrying ErrorText().
absl::StatusOr<Config> ParseConfigOrError(const std::vector<ConfigFile>& files);

}  // namespace gantry::config
