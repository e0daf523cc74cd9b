#include "cli/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace gantry::cli {
namespace {

std::string Flatten(const std::string& cell) {
  return absl::StrReplaceAll(cell, {{"\r", " "}, {"\n", " "}, {"\t", " "}});
}

// Terminal columns taken by a UTF-8 string (one per code point; good enough
// for names and states).
size_t DisplayWidth(const std::string& s) {
  size_t width = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> row) {
  for (std::string& cell : row) cell = Flatten(cell);
  row.resize(std::max(row.size(), header_.size()));
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out, int indent) const {
  size_t columns = header_.size();
  for (const auto& row : rows_) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);

  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line(static_cast<size_t>(std::max(indent, 0)), ' ');
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  print_row(header_);
  for (const auto& row : rows_) print_row(row);
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-";
  if (d < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
  }
  if (d < absl::Seconds(10)) {
    // Truncate rather than round so 9.99s never prints as "10.0s".
    double tenths = std::floor(absl::ToDoubleSeconds(d) * 10) / 10;
    return absl::StrFormat("%.1fs", tenths);
  }
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

bool IsSet(const google::protobuf::Timestamp& ts) {
  return ts.seconds() != 0 || ts.nanos() != 0;
}

absl::Time ToAbslTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts,
                            absl::TimeZone tz) {
  if (!IsSet(ts)) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", ToAbslTime(ts), tz);
}

std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now) {
  if (!IsSet(ts)) return "-";
  absl::Duration age = now - ToAbslTime(ts);
  // A controller clock slightly ahead of ours is not "in the future".
  if (age < absl::Seconds(1)) return "just now";
  return absl::StrCat(HumanDuration(absl::Trunc(age, absl::Seconds(1))),
                      " ago");
}

std::string FormatElapsed(const google::protobuf::Timestamp& start,
                          const google::protobuf::Timestamp& end,
                          absl::Time now) {
  if (!IsSet(start)) return "-";
  absl::Time until = IsSet(end) ? ToAbslTime(end) : now;
  absl::Duration d = until - ToAbslTime(start);
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return HumanDuration(d);
}

std::string JoinOr(const std::vector<std::string>& items,
                   const std::string& empty) {
  if (items.empty()) return empty;
  return absl::StrJoin(items, ", ");
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string json;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot render JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

}  // namespace gantry::cli
