// Durations as Gantry reads them everywhere, in config files and in flags, so
// one spelling works in both: a plain number in a caller's unit (minutes for a
// job's timeout, as GoCD; seconds for flags), or a duration string such as
// "90s", "10m", "1h30m" or "1.5s".
#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gantry::config {

// What the message for a bad duration says was expected.
inline constexpr char kDurationSyntax[] = "a duration such as 90s, 10m or 1h30m";

// `text` as a duration: digits (with an optional fraction) are `plain_unit`s;
// anything else is read by absl::ParseDuration (units ns, us, ms, s, m, h).
// nullopt for anything else, a negative or infinite duration, or surrounding
// spaces.
std::optional<absl::Duration> ParseDuration(absl::string_view text, absl::Duration plain_unit);

}  // namespace gantry::config
