#include "cli/controls_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/format.h"

namespace gantry::cli {
namespace {

// The controller keeps reasons to one line; an older or foreign one still
// cannot add lines to the output.
std::string OneLine(const std::string& s) {
  return absl::StrReplaceAll(s, {{"\r", " "}, {"\n", " "}});
}

}  // namespace

std::string PausedText(const gantry::v1::PipelineControls& c, absl::TimeZone tz) {
  if (!c.paused()) return "";
  std::string text = absl::StrCat("by ", c.paused_by().empty() ? "-" : c.paused_by());
  if (IsSet(c.paused_at())) absl::StrAppend(&text, " at ", FormatTimestamp(c.paused_at(), tz));
  if (!c.pause_reason().empty()) absl::StrAppend(&text, ": ", OneLine(c.pause_reason()));
  return text;
}

std::string LockText(const gantry::v1::PipelineControls& c) {
  if (c.lock_behavior().empty() || c.lock_behavior() == "none") return "-";
  if (c.locked_by() == 0) return absl::StrCat(c.lock_behavior(), ", unlocked");
  return absl::StrCat(c.lock_behavior(), ", held by ", c.pipeline(), "/", c.locked_by());
}

std::string WaitingText(const gantry::v1::PipelineControls& c) {
  if (c.waiting_trigger().empty()) return "";
  std::string text = c.waiting_trigger();
  if (!c.waiting_message().empty()) absl::StrAppend(&text, " (", OneLine(c.waiting_message()), ")");
  return text;
}

std::vector<std::string> ControlsLines(const gantry::v1::PipelineControls& c, absl::TimeZone tz) {
  std::vector<std::string> lines;
  if (c.paused()) lines.push_back(absl::StrCat("paused:          ", PausedText(c, tz)));
  if (LockText(c) != "-") lines.push_back(absl::StrCat("lock:            ", LockText(c)));
  if (!c.waiting_trigger().empty()) {
    lines.push_back(absl::StrCat("waiting trigger: ", WaitingText(c)));
  }
  return lines;
}

}  // namespace gantry::cli
