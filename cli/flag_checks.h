// CLI11 checks with messages written for people: CLI11's own PositiveNumber
// says "Value 0 not in range 0 to 1.79769e+308".
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"

namespace gantry::cli {

// A whole number of 1 or more: "--limit: must be a whole number of 1 or more, got '0'".
inline CLI::Validator AtLeastOne() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        int64_t n = 0;
        if (absl::SimpleAtoi(input, &n) && n >= 1) return "";
        return "must be a whole number of 1 or more, got '" + input + "'";
      },
      "N>=1");
}

}  // namespace gantry::cli
