// What a JobRunner reports, and to whom. The session adapts these calls to
// Session stream messages; tests collect them directly. All calls for one
// job come from the runner's thread, in this order: OnJobStarted, then
// OnConsole / OnTaskResult interleaved, then OnJobCompleted exactly once.
// Console bytes written before a task result are delivered before it.
#pragma once

#include <string>
#include <string_view>

namespace gantry::agent {

enum class TaskOutcome { kPassed, kFailed, kSkipped, kCancelled };
enum class JobResult { kPassed, kFailed, kCancelled };

// The protocol's spelling: "passed", "failed", "skipped", "cancelled".
std::string_view TaskOutcomeName(TaskOutcome outcome);
std::string_view JobResultName(JobResult result);

struct TaskReport {
  int task_index = 0;  // 0-based, as in Assign.tasks
  TaskOutcome outcome = TaskOutcome::kPassed;
  // The process's exit status, 128+N when killed by signal N, 127 when the
  // command could not be started, -1 when no process ran.
  int exit_code = -1;
};

struct JobReport {
  JobResult result = JobResult::kPassed;
  // Why it failed or was cancelled, one line; "" when passed.
  std::string reason;
};

class JobSink {
 public:
  virtual ~JobSink() = default;
  virtual void OnJobStarted() = 0;
  // Masked console bytes, already batched: one call is one chunk.
  virtual void OnConsole(std::string data) = 0;
  virtual void OnTaskResult(const TaskReport& report) = 0;
  virtual void OnJobCompleted(const JobReport& report) = 0;
};

}  // namespace gantry::agent
