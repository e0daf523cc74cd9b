#include "agent/attempt_outbox.h"

#include <algorithm>
#include <limits>

namespace gantry::agent {

using gantry::v1::AgentMessage;

bool AttemptOutbox::Open(int64_t attempt_id) {
  if (Find(attempt_id) != nullptr) return false;
  Attempt a;
  a.id = attempt_id;
  attempts_.push_back(std::move(a));
  return true;
}

bool AttemptOutbox::Holds(int64_t attempt_id) const {
  return Find(attempt_id) != nullptr;
}

bool AttemptOutbox::Finished(int64_t attempt_id) const {
  const Attempt* a = Find(attempt_id);
  return a != nullptr && a->finished;
}

AttemptOutbox::Attempt* AttemptOutbox::Find(int64_t attempt_id) {
  for (Attempt& a : attempts_) {
    if (a.id == attempt_id) return &a;
  }
  return nullptr;
}

const AttemptOutbox::Attempt* AttemptOutbox::Find(int64_t attempt_id) const {
  for (const Attempt& a : attempts_) {
    if (a.id == attempt_id) return &a;
  }
  return nullptr;
}

std::optional<AgentMessage> AttemptOutbox::Record(int64_t attempt_id,
                                                  AgentMessage message,
                                                  bool is_chunk,
                                                  bool is_completion) {
  Attempt* a = Find(attempt_id);
  if (a == nullptr || a->finished) return std::nullopt;
  int64_t covered_by;
  if (is_completion) {
    covered_by = std::numeric_limits<int64_t>::max();
    a->finished = true;
  } else if (is_chunk) {
    covered_by = a->next_sequence;
    message.mutable_console()->set_sequence(a->next_sequence++);
  } else {
    // Sent before chunk next_sequence, so an ack of it covers this too.
    covered_by = a->next_sequence;
  }
  if (is_completion) {
    message.mutable_job_completed()->set_last_sequence(a->next_sequence - 1);
  }
  a->items.push_back({message, covered_by});
  return message;
}

std::optional<AgentMessage> AttemptOutbox::Started(int64_t attempt_id) {
  AgentMessage m;
  m.mutable_job_started()->set_attempt_id(attempt_id);
  return Record(attempt_id, std::move(m), false, false);
}

std::optional<AgentMessage> AttemptOutbox::Console(int64_t attempt_id,
                                                   std::string data) {
  AgentMessage m;
  m.mutable_console()->set_attempt_id(attempt_id);
  m.mutable_console()->set_data(std::move(data));
  return Record(attempt_id, std::move(m), true, false);
}

std::optional<AgentMessage> AttemptOutbox::TaskResult(
    int64_t attempt_id, const TaskReport& report) {
  AgentMessage m;
  auto* r = m.mutable_task_result();
  r->set_attempt_id(attempt_id);
  r->set_task_index(report.task_index);
  r->set_outcome(std::string(TaskOutcomeName(report.outcome)));
  r->set_exit_code(report.exit_code);
  return Record(attempt_id, std::move(m), false, false);
}

std::optional<AgentMessage> AttemptOutbox::Completed(int64_t attempt_id,
                                                     const JobReport& report) {
  AgentMessage m;
  auto* c = m.mutable_job_completed();
  c->set_attempt_id(attempt_id);
  c->set_result(std::string(JobResultName(report.result)));
  c->set_reason(report.reason);
  return Record(attempt_id, std::move(m), false, true);
}

void AttemptOutbox::AckConsole(int64_t attempt_id, int64_t sequence) {
  Attempt* a = Find(attempt_id);
  if (a == nullptr) return;
  // An ack past what was produced must not cover chunks made later.
  a->acked = std::max(a->acked, std::min(sequence, a->next_sequence - 1));
  while (!a->items.empty() && a->items.front().covered_by <= a->acked) {
    a->items.pop_front();
  }
}

bool AttemptOutbox::AckCompletion(int64_t attempt_id) {
  Attempt* a = Find(attempt_id);
  if (a == nullptr || !a->finished) return false;
  Forget(attempt_id);
  return true;
}

void AttemptOutbox::Forget(int64_t attempt_id) {
  attempts_.erase(
      std::remove_if(attempts_.begin(), attempts_.end(),
                     [&](const Attempt& a) { return a.id == attempt_id; }),
      attempts_.end());
}

void AttemptOutbox::Clear() { attempts_.clear(); }

std::vector<gantry::v1::HeldAttempt> AttemptOutbox::Held() const {
  std::vector<gantry::v1::HeldAttempt> out;
  for (const Attempt& a : attempts_) {
    gantry::v1::HeldAttempt h;
    h.set_attempt_id(a.id);
    h.set_last_sequence(a.next_sequence - 1);
    h.set_finished(a.finished);
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<AgentMessage> AttemptOutbox::Backlog() const {
  std::vector<AgentMessage> out;
  for (const Attempt& a : attempts_) {
    for (const Item& item : a.items) out.push_back(item.message);
  }
  return out;
}

size_t AttemptOutbox::PendingCount(int64_t attempt_id) const {
  const Attempt* a = Find(attempt_id);
  return a == nullptr ? 0 : a->items.size();
}

}  // namespace gantry::agent
