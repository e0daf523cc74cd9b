#include "agent/attempt_journal.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "spdlog/spdlog.h"

namespace gantry::agent {

std::vector<int64_t> AttemptJournal::Load() {
  std::vector<int64_t> out;
  if (path_.empty() || !FileExists(path_)) return out;
  auto text = ReadFile(path_);
  if (!text.ok()) {
    spdlog::warn("cannot read {}: {}", path_, std::string(text.status().message()));
    return out;
  }
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(line, &id) && id > 0 && ids_.insert(id).second) out.push_back(id);
  }
  return out;
}

void AttemptJournal::Add(int64_t attempt_id) {
  if (ids_.insert(attempt_id).second) Write();
}

void AttemptJournal::Remove(int64_t attempt_id) {
  if (ids_.erase(attempt_id) > 0) Write();
}

void AttemptJournal::Clear() {
  if (ids_.empty()) return;
  ids_.clear();
  Write();
}

void AttemptJournal::Write() {
  if (path_.empty()) return;
  std::string text;
  for (int64_t id : ids_) absl::StrAppend(&text, id, "\n");
  absl::Status st = WriteFileAtomic(path_, text, 0600);
  // Not fatal: without the record a restart would only repeat today's
  // behaviour (an unstarted-looking attempt handed out again).
  if (!st.ok()) spdlog::warn("cannot record held attempts in {}: {}", path_, std::string(st.message()));
}

}  // namespace gantry::agent
