// Text and JSON rendering for the `gantry` CLI: aligned tables, durations,
// timestamps and protobuf JSON.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::cli {

// A left-aligned table: a header row, then rows; columns are separated by
// at least two spaces and trailing blanks are trimmed. Cells with a newline
// are flattened to one line. Rows shorter than the header are padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> row);
  // Prints with every line indented by `indent` spaces.
  void Print(std::ostream& out, int indent = 0) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "850ms", "3.2s", "42s", "4m05s", "2h03m", "3d04h"; "-" when negative.
std::string HumanDuration(absl::Duration d);

// True when the timestamp was set (seconds or nanos non-zero).
bool IsSet(const google::protobuf::Timestamp& ts);
absl::Time ToAbslTime(const google::protobuf::Timestamp& ts);

// "2024-01-02 15:04:05" in `tz`; "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts,
                            absl::TimeZone tz);

// "12s ago", "4m05s ago"; "just now" within a second, "-" when unset.
std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now);

// Time from `start` to `end`, or to `now` while `end` is unset; "-" when
// `start` is unset.
std::string FormatElapsed(const google::protobuf::Timestamp& start,
                          const google::protobuf::Timestamp& end,
                          absl::Time now);

// "a, b, c"; `empty` when there are none.
std::string JoinOr(const std::vector<std::string>& items,
                   const std::string& empty = "-");

// Protobuf JSON: lowerCamelCase field names, default values printed, int64
// as strings and bytes as base64 (the proto3 JSON mapping), pretty-printed
// with a trailing newline.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

}  // namespace gantry::cli
