#include "controller/planner/bad_versions.h"

namespace gantry {
namespace {

bool TookUpstream(const store::BadVersionRecord& mark, const std::string& pipeline,
                  int64_t counter) {
  for (const auto& m : mark.materials) {
    if (m.type == "pipeline" && m.upstream_pipeline == pipeline && m.upstream_counter == counter) {
      return true;
    }
  }
  return false;
}

}  // namespace

const store::BadVersionRecord* BadVersions::FindByUpstream(const std::string& environment,
                                                           const std::string& upstream_pipeline,
                                                           int64_t upstream_counter) const {
  for (const auto& mark : open_) {
    if (mark.environment == environment &&
        TookUpstream(mark, upstream_pipeline, upstream_counter)) {
      return &mark;
    }
  }
  return nullptr;
}

const store::BadVersionRecord* BadVersions::FindByRun(const std::string& environment,
                                                      int64_t run_id) const {
  for (const auto& mark : open_) {
    if (mark.environment == environment && mark.run_id == run_id) return &mark;
  }
  return nullptr;
}

bool BadVersions::Mark(store::BadVersionRecord mark) {
  if (FindByRun(mark.environment, mark.run_id) != nullptr) return false;
  marks_.push_back(mark);
  open_.insert(open_.begin(), std::move(mark));  // newest first, as loaded
  return true;
}

std::vector<store::BadVersionRecord> BadVersions::Clear(const std::string& environment,
                                                        const std::string& pipeline,
                                                        int64_t counter, const std::string& by,
                                                        const std::string& reason, int64_t now_ms) {
  std::vector<store::BadVersionRecord> cleared;
  for (auto it = open_.begin(); it != open_.end();) {
    bool match =
        it->environment == environment && ((it->pipeline == pipeline && it->counter == counter) ||
                                           TookUpstream(*it, pipeline, counter));
    if (!match) {
      ++it;
      continue;
    }
    it->cleared_by = by;
    it->cleared_at = now_ms;
    it->clear_reason = reason;
    clears_.push_back(*it);
    cleared.push_back(std::move(*it));
    it = open_.erase(it);
  }
  return cleared;
}

void BadVersions::TakeWrites(store::WriteBatch* batch) {
  batch->bad_marks = std::move(marks_);
  batch->bad_clears = std::move(clears_);
  marks_.clear();
  clears_.clear();
}

}  // namespace gantry
