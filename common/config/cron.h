// GoCD's timer specs: Quartz cron expressions, which have a seconds field.
//
//   "0 0 22 ? * MON-FRI"     seconds minutes hours day-of-month month
//                            day-of-week [year]
//
// Supported: numbers, `*`, `?` (in day-of-month or day-of-week, one of which
// must be `?`, as Quartz requires), ranges `a-b`, lists `a,b`, increments
// `a/n` and `a-b/n` and `*/n`, month names JAN-DEC, day names SUN-SAT
// (1 = SUN, as Quartz). Quartz's `L`, `W` and `#` are refused by name.
#pragma once

#include <bitset>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gantry::config {

class CronSpec {
 public:
  // The spec, or INVALID_ARGUMENT with a one-line reason naming the field.
  static absl::StatusOr<CronSpec> Parse(absl::string_view text);

  // The first time strictly after `after`, in whole seconds, that matches,
  // read in `zone`; nullopt if none does before the year 2100.
  std::optional<absl::Time> Next(absl::Time after, absl::TimeZone zone) const;

  const std::string& text() const { return text_; }

 private:
  bool MatchesDay(const absl::CivilDay& day) const;

  std::string text_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<8> days_of_week_;    // 1..7, 1 = Sunday
  bool any_day_of_month_ = false;  // `?` or `*`
  bool any_day_of_week_ = false;
  std::bitset<130> years_;  // 1970..2099, as offsets from 1970
};

}  // namespace gantry::config
