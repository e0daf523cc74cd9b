// What a committed batch changed, for watchers outside the strand (the HTTP
// listener's live events and metrics). Built on the strand from the batch's
// row images only when a watcher is set; small, copied, and handed over
// after the commit, so a watcher never sees a change the database lacks and
// never holds the strand up (it must only post the notice elsewhere).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/model/states.h"
#include "controller/planner/run_model.h"
#include "controller/store/write_batch.h"

namespace gantry {

struct ChangeNotice {
  struct Run {
    std::string pipeline;
    int64_t counter = 0;
    bool operator==(const Run& o) const { return pipeline == o.pipeline && counter == o.counter; }
  };
  // A job attempt's row as committed (times are unix microseconds, 0 unset).
  struct Job {
    int64_t attempt_id = 0;
    JobState state = JobState::kScheduled;
    std::string agent_id;
    int64_t scheduled_at = 0;
    int64_t assigned_at = 0;
    int64_t started_at = 0;
    int64_t finished_at = 0;
  };

  // Runs any of whose rows (run, stage, job, approval) changed; each once.
  std::vector<Run> runs;
  // Job attempts created or changed.
  std::vector<Job> jobs;
  // Job attempts with new console output.
  std::vector<int64_t> console_attempts;
  // How long the batch's transaction took; whether it failed (then nothing
  // above is filled: memory was reloaded and nothing was acknowledged).
  absl::Duration commit_time;
  bool commit_failed = false;

  static ChangeNotice Failed() {
    ChangeNotice n;
    n.commit_failed = true;
    return n;
  }
  bool empty() const { return runs.empty() && jobs.empty() && console_attempts.empty(); }
};

using ChangeListener = std::function<void(ChangeNotice)>;

// The notice for `writes`, taken from `model` before the batch's finished
// runs are evicted (stage and job rows name their run only by id).
ChangeNotice NoticeOf(const store::WriteBatch& writes, RunModel& model);

}  // namespace gantry
