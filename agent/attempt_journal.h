// The attempts this agent accepted and has not yet seen acknowledged as
// finished, kept in a file of the work dir. An agent killed while holding
// one may already have run it (the controller may never have heard that it
// started); the next agent process reads the file and says so in its Hello
// (HeldAttempt.interrupted), so the controller ends the attempt as lost
// instead of handing it out again as never started.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace gantry::agent {

class AttemptJournal {
 public:
  // "" = no journal (tests without a work dir).
  explicit AttemptJournal(std::string path) : path_(std::move(path)) {}

  // What an earlier process left; they stay recorded until Remove.
  std::vector<int64_t> Load();
  // Written before the attempt's job starts.
  void Add(int64_t attempt_id);
  void Remove(int64_t attempt_id);
  void Clear();

 private:
  void Write();

  const std::string path_;
  std::set<int64_t> ids_;
};

}  // namespace gantry::agent
