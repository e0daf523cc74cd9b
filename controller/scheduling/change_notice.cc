#include "controller/scheduling/change_notice.h"

#include <algorithm>

namespace gantry {
namespace {

void AddRun(ChangeNotice& notice, const RunEntry* entry) {
  if (entry == nullptr) return;
  ChangeNotice::Run run{entry->run.pipeline, entry->run.counter};
  if (std::find(notice.runs.begin(), notice.runs.end(), run) == notice.runs.end()) {
    notice.runs.push_back(std::move(run));
  }
}

void AddJob(ChangeNotice& notice, const store::JobRunRecord& job) {
  notice.jobs.push_back({job.id, job.state, job.agent_id, job.scheduled_at, job.assigned_at,
                         job.started_at, job.finished_at});
}

}  // namespace

ChangeNotice NoticeOf(const store::WriteBatch& writes, RunModel& model) {
  ChangeNotice notice;
  for (const auto* runs : {&writes.new_runs, &writes.changed_runs}) {
    for (const auto& r : *runs) AddRun(notice, model.FindRun(r.id));
  }
  for (const auto* stages : {&writes.new_stages, &writes.changed_stages}) {
    for (const auto& s : *stages) AddRun(notice, model.FindRun(s.run_id));
  }
  for (const auto* jobs : {&writes.new_jobs, &writes.changed_jobs}) {
    for (const auto& j : *jobs) {
      AddRun(notice, model.RunOfJob(j.id));
      AddJob(notice, j);
    }
  }
  for (const auto& a : writes.approvals) AddRun(notice, model.FindRun(a.run_id));
  for (const auto& c : writes.console) {
    if (std::find(notice.console_attempts.begin(), notice.console_attempts.end(), c.job_run_id) ==
        notice.console_attempts.end()) {
      notice.console_attempts.push_back(c.job_run_id);
    }
  }
  return notice;
}

}  // namespace gantry
