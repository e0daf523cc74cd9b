#include "common/config/cron.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry::config {
namespace {

struct FieldInfo {
  const char* name;
  int min;
  int max;
  // Names for values min, min+1, … (months, days of the week), or none.
  std::vector<absl::string_view> names;
};

const FieldInfo kFields[] = {
    {"seconds", 0, 59, {}},
    {"minutes", 0, 59, {}},
    {"hours", 0, 23, {}},
    {"day-of-month", 1, 31, {}},
    {"month",
     1,
     12,
     {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
    {"day-of-week", 1, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
    {"year", 1970, 2099, {}},
};

absl::Status Bad(const FieldInfo& f, absl::string_view part, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("timer spec: ", f.name, " field '", part, "': ", why));
}

absl::StatusOr<int> Value(const FieldInfo& f, absl::string_view part, absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(text);
  for (size_t i = 0; i < f.names.size(); ++i) {
    if (upper == f.names[i]) return f.min + static_cast<int>(i);
  }
  int v = 0;
  if (!absl::SimpleAtoi(text, &v)) return Bad(f, part, absl::StrCat("'", text, "' is not a value"));
  if (v < f.min || v > f.max) {
    return Bad(f, part, absl::StrCat(v, " is out of range ", f.min, "-", f.max));
  }
  return v;
}

// Sets the bits (value - min) of `bits` the field's text selects.
template <size_t N>
absl::Status ReadField(const FieldInfo& f, absl::string_view text, std::bitset<N>* bits,
                       bool* any) {
  if (text == "?" || text == "*") *any = true;
  if (text == "?") {
    if (f.names.size() != 7 && std::string(f.name) != "day-of-month") {
      return Bad(f, text, "'?' is only for day-of-month or day-of-week");
    }
    bits->set();
    return absl::OkStatus();
  }
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    // Quartz's last-day, weekday and nth-weekday forms (names such as JUL
    // and WED hold those letters too, so only where there are no names).
    for (char c : {'L', 'W', '#'}) {
      bool found = part.find(c) != absl::string_view::npos ||
                   part.find(absl::ascii_tolower(c)) != absl::string_view::npos;
      if (found && (c == '#' || f.names.empty())) {
        return Bad(f, part,
                   absl::StrCat("Quartz's '", std::string(1, c), "' is not supported by Gantry"));
      }
    }
    absl::string_view range = part;
    int step = 1;
    if (size_t slash = part.find('/'); slash != absl::string_view::npos) {
      range = part.substr(0, slash);
      if (!absl::SimpleAtoi(part.substr(slash + 1), &step) || step < 1) {
        return Bad(f, part, "the increment after '/' must be a positive number");
      }
    }
    int from = f.min, to = f.max;
    if (range != "*") {
      size_t dash = range.find('-');
      absl::StatusOr<int> a = Value(f, part, range.substr(0, dash));
      if (!a.ok()) return a.status();
      from = *a;
      to = *a;
      if (dash != absl::string_view::npos) {
        absl::StatusOr<int> b = Value(f, part, range.substr(dash + 1));
        if (!b.ok()) return b.status();
        to = *b;
        if (to < from) return Bad(f, part, "the range ends before it starts");
      } else if (step > 1 || part.find('/') != absl::string_view::npos) {
        to = f.max;  // "a/n": from a, every n
      }
    }
    for (int v = from; v <= to; v += step) bits->set(v - f.min);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CronSpec> CronSpec::Parse(absl::string_view text) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  if (parts.size() != 6 && parts.size() != 7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timer spec '", text, "' has ", parts.size(),
        " fields; a Quartz cron expression has 6 or 7: seconds minutes hours day-of-month "
        "month day-of-week [year], e.g. '0 0 22 ? * MON-FRI'"));
  }
  CronSpec spec;
  spec.text_ = std::string(text);
  bool unused = false;
  std::bitset<32> dom;
  std::bitset<13> months;
  std::bitset<8> dow;
  absl::Status s;
  if (!(s = ReadField(kFields[0], parts[0], &spec.seconds_, &unused)).ok()) return s;
  if (!(s = ReadField(kFields[1], parts[1], &spec.minutes_, &unused)).ok()) return s;
  if (!(s = ReadField(kFields[2], parts[2], &spec.hours_, &unused)).ok()) return s;
  if (!(s = ReadField(kFields[3], parts[3], &dom, &spec.any_day_of_month_)).ok()) return s;
  if (!(s = ReadField(kFields[4], parts[4], &months, &unused)).ok()) return s;
  if (!(s = ReadField(kFields[5], parts[5], &dow, &spec.any_day_of_week_)).ok()) return s;
  // Stored by value (bit v), not offset from the field's minimum.
  for (int d = 1; d <= 31; ++d) spec.days_of_month_[d] = dom[d - 1];
  for (int m = 1; m <= 12; ++m) spec.months_[m] = months[m - 1];
  for (int d = 1; d <= 7; ++d) spec.days_of_week_[d] = dow[d - 1];
  if (parts.size() == 7) {
    if (!(s = ReadField(kFields[6], parts[6], &spec.years_, &unused)).ok()) return s;
  } else {
    spec.years_.set();
  }
  if (parts[3] != "?" && parts[5] != "?") {
    return absl::InvalidArgumentError(
        absl::StrCat("timer spec '", text,
                     "': give '?' in day-of-month or in day-of-week (Quartz does not combine "
                     "them), e.g. '0 0 22 ? * MON-FRI'"));
  }
  return spec;
}

bool CronSpec::MatchesDay(const absl::CivilDay& day) const {
  int year = static_cast<int>(day.year());
  if (year < 1970 || year > 2099 || !years_[year - 1970]) return false;
  if (!months_[day.month()]) return false;
  if (!any_day_of_month_ && !days_of_month_[day.day()]) return false;
  // absl: Monday..Sunday; Quartz: 1 = Sunday.
  int weekday = 1;
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::sunday:
      weekday = 1;
      break;
    case absl::Weekday::monday:
      weekday = 2;
      break;
    case absl::Weekday::tuesday:
      weekday = 3;
      break;
    case absl::Weekday::wednesday:
      weekday = 4;
      break;
    case absl::Weekday::thursday:
      weekday = 5;
      break;
    case absl::Weekday::friday:
      weekday = 6;
      break;
    case absl::Weekday::saturday:
      weekday = 7;
      break;
  }
  if (!any_day_of_week_ && !days_of_week_[weekday]) return false;
  return true;
}

std::optional<absl::Time> CronSpec::Next(absl::Time after, absl::TimeZone zone) const {
  absl::CivilSecond start = absl::ToCivilSecond(after, zone) + 1;
  absl::CivilDay day = absl::CivilDay(start);
  // Day by day: at most the years to 2099, about 47,000 days from 1970.
  for (; day.year() <= 2099; ++day) {
    if (!MatchesDay(day)) continue;
    bool first = day == absl::CivilDay(start);
    for (int h = first ? start.hour() : 0; h < 24; ++h) {
      if (!hours_[h]) continue;
      bool first_hour = first && h == start.hour();
      for (int m = first_hour ? start.minute() : 0; m < 60; ++m) {
        if (!minutes_[m]) continue;
        bool first_minute = first_hour && m == start.minute();
        for (int s = first_minute ? start.second() : 0; s < 60; ++s) {
          if (!seconds_[s]) continue;
          absl::CivilSecond at(day.year(), day.month(), day.day(), h, m, s);
          absl::Time t = absl::FromCivil(at, zone);
          // A time skipped by a daylight-saving change reads as a later one.
          if (t > after) return t;
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace gantry::config
