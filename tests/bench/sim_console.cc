// Simulated jobs that write console output continuously (SimAgent::
// StreamConsole): the outage scenario's load. Chunks are made on demand from
// (attempt, sequence), so a backlog costs the bench no memory.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/bench/sim_agents.h"
#include "tests/bench/sim_stream.h"

namespace gantry::bench {
namespace {

// Chunks queued on a stream at a time: the stream's flow control, not a
// queue in the bench, decides how fast they go.
constexpr int kChunksPerPump = 4;

}  // namespace

void SimAgent::StreamConsole(int64_t attempt_id, absl::Time start) {
  v1::AgentMessage m;
  m.mutable_job_started()->set_attempt_id(attempt_id);
  // Under one lock, so no chunk can go before JobStarted.
  std::lock_guard<std::mutex> lock(mu_);
  console_.emplace();
  console_->attempt_id = attempt_id;
  console_->start = start;
  if (stream_ != nullptr) stream_->Enqueue(m);
}

int64_t SimAgent::ProducedLocked(absl::Time now) const {
  if (!console_) return 0;
  absl::Time t = std::min(now, console_->stop);
  if (t <= console_->start) return 0;
  return (t - console_->start) / fleet_->options_.console_period;
}

v1::AgentMessage Fleet::ConsoleChunk(int64_t attempt_id, int64_t sequence) const {
  static const std::string kFill = [] {
    std::string line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    std::string fill;
    while (fill.size() < (1 << 20)) fill += line;
    return fill;
  }();
  v1::AgentMessage m;
  auto* c = m.mutable_console();
  c->set_attempt_id(attempt_id);
  c->set_sequence(sequence);
  std::string data = absl::StrCat("attempt ", attempt_id, " chunk ", sequence, "\n");
  size_t size = static_cast<size_t>(std::max(options_.console_chunk_bytes, 1));
  if (data.size() < size) data += kFill.substr(0, std::min(size - data.size(), kFill.size()));
  data.resize(size);
  data.back() = '\n';
  c->set_data(std::move(data));
  return m;
}

void Fleet::PumpConsoleLocked(SimAgent& a, absl::Time now) {
  if (!a.console_ || a.stream_ == nullptr) return;
  ConsoleStream& c = *a.console_;
  if (c.completed || c.abandoned || c.completion_sent) return;
  if (a.stream_->queued() > 0) return;
  int64_t produced = a.ProducedLocked(now);
  for (int n = 0; n < kChunksPerPump && c.sent < produced; ++n) {
    a.stream_->Enqueue(ConsoleChunk(c.attempt_id, ++c.sent));
  }
  if (now < c.stop || c.sent < produced) return;
  // Stopped and everything sent: the job ends.
  v1::AgentMessage m;
  auto* t = m.mutable_task_result();
  t->set_attempt_id(c.attempt_id);
  t->set_task_index(0);
  t->set_outcome("passed");
  a.stream_->Enqueue(m);
  m.Clear();
  auto* done = m.mutable_job_completed();
  done->set_attempt_id(c.attempt_id);
  done->set_result("passed");
  done->set_last_sequence(produced);
  a.stream_->Enqueue(m);
  c.completion_sent = true;
}

void Fleet::ResumeConsoleLocked(SimAgent& a) {
  // A new session: whatever was not acknowledged is sent again, in order.
  if (!a.console_ || a.console_->completed || a.console_->abandoned) return;
  ConsoleStream& c = *a.console_;
  c.sent = c.acked;
  c.completion_sent = false;
  if (c.acked == 0) {
    v1::AgentMessage m;
    m.mutable_job_started()->set_attempt_id(c.attempt_id);
    a.stream_->Enqueue(m);
  }
}

void Fleet::OnConsoleAck(SimAgent& agent, const v1::ConsoleAck& ack, absl::Time now) {
  bool stored = false, live = false;
  {
    std::lock_guard<std::mutex> lock(agent.mu_);
    auto& c = agent.console_;
    if (c && c->attempt_id == ack.attempt_id()) {
      c->acked = std::max(c->acked, ack.sequence());
      if (c->target >= 0 && c->backlog_stored == absl::InfiniteFuture() && c->acked >= c->target) {
        c->backlog_stored = now;
        stored = true;
      }
      if (c->target >= 0 && c->live == absl::InfiniteFuture() &&
          c->acked >= agent.ProducedLocked(now - console_lag_)) {
        c->live = now;
        live = true;
      }
    }
  }
  if (stored || live) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      counters_.console_backlog_stored += stored ? 1 : 0;
      counters_.console_live += live ? 1 : 0;
    }
    cv_.notify_all();
  }
  if (hooks_.on_console_ack) hooks_.on_console_ack(agent, ack);
}

void Fleet::MarkConsole(absl::Time mark, absl::Duration lag) {
  int64_t stored = 0, live = 0;
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    console_mark_ = mark;
    console_lag_ = lag;
    auto& c = a->console_;
    if (!c || c->completed || c->abandoned) continue;
    c->target = a->ProducedLocked(mark);
    c->backlog_stored = c->acked >= c->target ? mark : absl::InfiniteFuture();
    c->live = c->acked >= a->ProducedLocked(mark - lag) ? mark : absl::InfiniteFuture();
    stored += c->backlog_stored == mark ? 1 : 0;
    live += c->live == mark ? 1 : 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  counters_.console_backlog_stored = stored;
  counters_.console_live = live;
}

std::vector<absl::Duration> Fleet::BacklogStoredTimes() {
  std::vector<absl::Duration> out;
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    auto& c = a->console_;
    if (c && c->target >= 0 && c->backlog_stored != absl::InfiniteFuture()) {
      out.push_back(c->backlog_stored - console_mark_);
    }
  }
  return out;
}

std::vector<absl::Duration> Fleet::LiveTimes() {
  std::vector<absl::Duration> out;
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    auto& c = a->console_;
    if (c && c->target >= 0 && c->live != absl::InfiniteFuture()) {
      out.push_back(c->live - console_mark_);
    }
  }
  return out;
}

void Fleet::StopConsole(absl::Time at) {
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    if (a->console_ && a->console_->stop == absl::InfiniteFuture()) a->console_->stop = at;
  }
}

ConsoleTotals Fleet::ConsoleTotalsAt(absl::Time now, absl::Time mark) {
  ConsoleTotals t;
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    if (!a->console_) continue;
    const ConsoleStream& c = *a->console_;
    if (!c.completed && !c.abandoned) ++t.streaming;
    t.produced += a->ProducedLocked(now);
    t.sent += c.sent;
    t.acked += c.acked;
    if (c.completed) ++t.completed;
    if (c.abandoned) ++t.abandoned;
    if (a->stream_ != nullptr && now - a->stream_->write_started() > absl::Seconds(1)) {
      ++t.stalled;
    }
    if (mark != absl::InfinitePast() && !c.completed && c.acked < a->ProducedLocked(mark)) {
      ++t.behind;
    }
  }
  return t;
}

}  // namespace gantry::bench
