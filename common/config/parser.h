// Parses and validates config files. Every problem is reported, not just the
// first, each as `file:line:col: message`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/limits.h"
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
  // Sorted by file, line and column; at most Limits::max_errors of them.
  std::vector<ConfigError> errors;  // empty means valid
  // Errors found past Limits::max_errors (later in the files).
  size_t more_errors = 0;

  bool ok() const { return errors.empty(); }
  // The errors, one per line, then MoreErrorsText(more_errors) if any.
  std::string ErrorText() const;
};

// "and 12 more errors": the line that ends a list of errors cut short.
std::string MoreErrorsText(size_t more_errors);

// Parses all files as one configuration: pipeline and environment names are
// global across files; cross-references (materials, fetch, environments) are
// checked across the whole set. A file that passes one of `limits` or is not
// UTF-8 gets that one error, naming the limit, and is not read further.
ParseResult ParseConfig(const std::vector<ConfigFile>& files, const Limits& limits = Limits());

// Convenience: ParseConfig, with INVALID_ARGUMENT carrying ErrorText().
absl::StatusOr<Config> ParseConfigOrError(const std::vector<ConfigFile>& files);

}  // namespace gantry::config
