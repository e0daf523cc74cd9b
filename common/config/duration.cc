#include "common/config/duration.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace gantry::config {
namespace {

// Digits, optionally a '.' and more digits: no sign, exponent or "inf",
// which absl::SimpleAtod would also take.
bool IsPlainNumber(absl::string_view text) {
  size_t digits = 0, dots = 0;
  for (char c : text) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      ++digits;
    } else if (c == '.' && dots == 0) {
      ++dots;
    } else {
      return false;
    }
  }
  return digits > 0;
}

}  // namespace

std::optional<absl::Duration> ParseDuration(absl::string_view text, absl::Duration plain_unit) {
  absl::Duration d;
  if (IsPlainNumber(text)) {
    double number = 0;
    if (!absl::SimpleAtod(text, &number)) return std::nullopt;
    d = number * plain_unit;  // saturates to infinity
  } else if (text.empty() || !absl::ParseDuration(text, &d)) {
    return std::nullopt;
  }
  if (d < absl::ZeroDuration() || d == absl::InfiniteDuration()) return std::nullopt;
  return d;
}

}  // namespace gantry::config
