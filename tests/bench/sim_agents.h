// Simulated agents: in-process gRPC clients that speak the real agent
// protocol (Register, then a Session stream: Hello -> Welcome, Assign ->
// JobStarted/TaskResult/JobCompleted, heartbeats) and reconnect as the real
// agent does (agent/session.cc): the real agent's Backoff (agent/backoff.h:
// full jitter from 200 ms to 10 s, within 800 ms for a minute after a
// welcomed session ended), a new stream cancelled when no Welcome comes
// within 10 s, and with `dial_per_attempt` a new channel for every attempt.
//
// Streams use gRPC's callback API, so 10,000 agents need no thread each:
// a handful of gRPC threads run the reactions and a few timer threads send
// heartbeats, stream console output and open (re)connections.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/backoff.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::bench {

class Fleet;
class StreamReactor;

// A job that writes console output continuously (StreamConsole): chunk k
// (1-based) is produced at start + k * period, and sent when the stream can
// take it, so a controller that stops reading holds the agent back instead
// of growing a queue. Acknowledged chunks are never sent again; after a
// reconnect the rest is.
struct ConsoleStream {
  int64_t attempt_id = 0;
  absl::Time start;
  absl::Time stop = absl::InfiniteFuture();  // nothing produced after it
  int64_t sent = 0;                          // highest sequence queued on the current stream
  int64_t acked = 0;                         // highest sequence the controller acknowledged
  bool completion_sent = false;
  bool completed = false;  // CompletionAck received
  bool abandoned = false;
  // Fleet::MarkConsole: chunks produced by the mark; when all of them were
  // acknowledged (backlog_stored), and the first ack after the mark that
  // left the agent less than the fleet's lag behind its output (live).
  int64_t target = -1;
  absl::Time backlog_stored = absl::InfiniteFuture();
  absl::Time live = absl::InfiniteFuture();
};

class SimAgent {
 public:
  int index() const { return index_; }
  const std::string& id() const { return id_; }
  const std::string& token() const { return token_; }
  const std::string& name() const { return name_; }
  // Queues a message on the current stream; dropped while disconnected.
  void Send(const v1::AgentMessage& message);
  // JobStarted, one TaskResult and JobCompleted("passed") for `attempt`.
  void FinishJob(int64_t attempt_id, const std::string& result = "passed");
  // JobStarted, then console chunks until the fleet's StopConsole; then
  // TaskResult and JobCompleted("passed") once every chunk was sent.
  void StreamConsole(int64_t attempt_id, absl::Time start);
  v1::AgentService::Stub* stub();

 private:
  friend class Fleet;
  friend class StreamReactor;

  // Sequence numbers produced by `now` (mu_ held).
  int64_t ProducedLocked(absl::Time now) const;

  Fleet* fleet_ = nullptr;
  int index_ = 0;
  int channel_ = 0;
  std::string id_, token_, name_;

  std::mutex mu_;
  StreamReactor* stream_ = nullptr;  // the live stream, null while down
  // With dial_per_attempt: the channel of the newest attempt.
  std::shared_ptr<grpc::Channel> own_channel_;
  std::unique_ptr<v1::AgentService::Stub> own_stub_;
  bool welcomed_ = false;
  absl::Time welcome_deadline_ = absl::InfiniteFuture();
  absl::Duration heartbeat_interval_ = absl::Seconds(10);
  absl::Time next_heartbeat_ = absl::InfiniteFuture();
  absl::Time reconnect_at_ = absl::InfiniteFuture();
  std::optional<agent::Backoff> backoff_;
  std::optional<ConsoleStream> console_;
  // Which of the fleet's addresses the next attempt dials (several: two
  // controllers; each ended stream moves on to the next, as agents do).
  size_t target_ = 0;
};

struct FleetOptions {
  // host:port, or several separated by commas (a leader and a standby).
  std::string address;
  // Channels (TCP connections) the agents share; ignored with
  // dial_per_attempt.
  int channels = 8;
  // Each (re)connect attempt of each agent dials a channel of its own, as
  // the real agent does: one connection per agent, no gRPC reconnect
  // backoff carried over from a failed attempt.
  bool dial_per_attempt = false;
  // Finish every assigned job at once (JobStarted, TaskResult, JobCompleted).
  // When false, on_assign must finish it.
  bool auto_finish = true;
  // Console chunks sent per job before it completes (0: none).
  int console_chunks = 0;
  // StreamConsole: bytes per chunk and time between chunks.
  int console_chunk_bytes = 4096;
  absl::Duration console_period = absl::Milliseconds(100);
  // Agents are named <name_prefix>-<i>. The controller refuses a second
  // agent of a name, so fleets sharing a controller (--smoke) need their own.
  std::string name_prefix = "sim";
  // The real agent's reconnect backoff (agent/backoff.h) and Welcome timeout
  // (agent/session.h rpc_timeout).
  agent::BackoffOptions backoff;
  absl::Duration welcome_timeout = absl::Seconds(10);
  // Threads sending heartbeats and console and (re)opening streams, each for
  // every n-th agent.
  int timer_threads = 1;
};

struct FleetHooks {
  // On a gRPC thread, as each message arrives; keep them short.
  std::function<void(SimAgent&, const v1::Assign&, absl::Time)> on_assign;
  std::function<void(SimAgent&, int64_t attempt_id, absl::Time)> on_completion_ack;
  std::function<void(SimAgent&, const v1::ConsoleAck&)> on_console_ack;
};

struct FleetCounters {
  int64_t welcomed_now = 0;  // agents whose live stream got a Welcome
  int64_t welcomes = 0;      // Welcome messages in all
  int64_t assigns = 0;
  int64_t completion_acks = 0;
  int64_t abandons = 0;
  int64_t streams_opened = 0;
  int64_t streams_failed = 0;    // streams that ended (any status)
  int64_t welcome_timeouts = 0;  // streams cancelled for want of a Welcome
  int64_t channels_dialled = 0;
  int64_t console_written = 0;         // console chunks whose write completed
  int64_t console_backlog_stored = 0;  // agents acknowledged up to the mark
  int64_t console_live = 0;            // agents less than the lag behind since
  absl::Time last_welcome;             // when the newest Welcome arrived
};

// Sums over the agents streaming console output (StreamConsole).
struct ConsoleTotals {
  int64_t streaming = 0;  // jobs streaming or finishing
  int64_t produced = 0;   // chunks produced by now
  int64_t sent = 0;       // chunks handed to the current streams
  int64_t acked = 0;      // chunks acknowledged
  int64_t completed = 0;  // jobs whose completion was acknowledged
  int64_t abandoned = 0;
  int64_t stalled = 0;  // agents whose write in flight is older than 1 s
  int64_t behind = 0;   // agents with acked < `mark` (ConsoleTotalsAt)
};

class Fleet {
 public:
  Fleet(FleetOptions options, FleetHooks hooks);
  ~Fleet();  // Shutdown()

  // Registers `count` more agents with `register_key`, `parallel` at a time.
  absl::Status Register(int count, const std::string& register_key, int parallel = 16);
  // Opens every agent's session (the timer thread does it, in a burst).
  void ConnectAll();
  // Cancels every stream and stops reconnecting; waits for the streams.
  void Shutdown();

  // Waits until at least `n` agents are welcomed; false on timeout.
  bool WaitWelcomed(int64_t n, absl::Duration timeout);
  // Waits until `done(counters)`; false on timeout. Woken by every Welcome,
  // completion and catch-up (MarkConsole).
  bool WaitCounters(const std::function<bool(const FleetCounters&)>& done, absl::Duration timeout);
  FleetCounters counters();
  // When each Welcome at or after `since` arrived.
  std::vector<absl::Time> WelcomesSince(absl::Time since);
  // Each stream the timer thread opened: when, how long after the agent's
  // backoff said so (the bench falling behind), and what opening cost.
  struct Open {
    absl::Time at;
    absl::Duration late, took;
  };
  std::vector<Open> OpensSince(absl::Time since);
  int size() const { return static_cast<int>(agents_.size()); }
  SimAgent& agent(int i) { return *agents_[i]; }
  v1::AgentService::Stub* stub(int channel) { return stubs_[channel].get(); }

  // Console streaming: no chunk is produced after `at`; each job completes
  // once its chunks are sent.
  void StopConsole(absl::Time at);
  // Totals now; `behind` counts agents that have not had every chunk
  // produced by `mark` acknowledged.
  ConsoleTotals ConsoleTotalsAt(absl::Time now, absl::Time mark = absl::InfinitePast());
  // From now on, counts streaming agents once every chunk they produced by
  // `mark` is acknowledged (console_backlog_stored), and once an ack leaves
  // them less than `lag` behind their output (console_live).
  void MarkConsole(absl::Time mark, absl::Duration lag);
  // How long after the mark each agent got there (agents that did).
  std::vector<absl::Duration> BacklogStoredTimes();
  std::vector<absl::Duration> LiveTimes();

 private:
  friend class SimAgent;
  friend class StreamReactor;

  std::shared_ptr<grpc::Channel> Dial(int tag, size_t target = 0);
  void TimerLoop(int shard, int shards);
  void TimerPass(SimAgent& agent, absl::Time now, const v1::AgentMessage& heartbeat);
  void OpenStream(SimAgent& agent);
  v1::AgentMessage HelloOf(SimAgent& agent);
  void OnMessage(SimAgent& agent, const v1::ControllerMessage& message);
  void OnWelcome(SimAgent& agent, const v1::Welcome& welcome, absl::Time now);
  void OnStreamIdle(SimAgent& agent);
  void OnConsoleAck(SimAgent& agent, const v1::ConsoleAck& ack, absl::Time now);
  void CountConsoleWritten() { console_written_.fetch_add(1, std::memory_order_relaxed); }
  // A stream ended: DetachStream first (no one reaches it any more; returns
  // whether the agent had been welcomed), then the reactor is deleted, then
  // StreamEnded, after which Shutdown may destroy the channels it used.
  bool DetachStream(SimAgent& agent, StreamReactor* stream, bool got_message);
  void StreamEnded(bool was_welcomed);

  // sim_console.cc: console streaming (agent.mu_ held).
  void PumpConsoleLocked(SimAgent& agent, absl::Time now);
  void ResumeConsoleLocked(SimAgent& agent);
  v1::AgentMessage ConsoleChunk(int64_t attempt_id, int64_t sequence) const;

  FleetOptions options_;
  std::vector<std::string> addresses_;
  FleetHooks hooks_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<SimAgent>> agents_;

  std::mutex mu_;
  std::condition_variable cv_;
  FleetCounters counters_;
  std::vector<absl::Time> welcome_times_;
  std::vector<Open> opens_;
  std::atomic<int64_t> console_written_{0};
  absl::Time console_mark_ = absl::InfiniteFuture();  // MarkConsole; agents' mu_
  absl::Duration console_lag_;
  int64_t live_streams_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> timers_;
};

}  // namespace gantry::bench
