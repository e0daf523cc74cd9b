// Simulated agents: in-process gRPC clients that speak the real agent
// protocol (Register, then a Session stream: Hello -> Welcome, Assign ->
// JobStarted/TaskResult/JobCompleted, heartbeats, reconnect with the real
// agent's capped, fully jittered backoff).
//
// Streams use gRPC's callback API, so 10,000 agents need no thread each:
// a handful of gRPC threads run the reactions and one timer thread sends
// heartbeats and opens (re)connections. Agents are spread over `channels`
// channels, each its own TCP connection (local subchannel pool).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gantry/v1/agent.grpc.pb.h"

namespace gantry::bench {

class Fleet;
class StreamReactor;

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
  v1::AgentService::Stub* stub() const;

 private:
  friend class Fleet;
  friend class StreamReactor;

  Fleet* fleet_ = nullptr;
  int index_ = 0;
  int channel_ = 0;
  std::string id_, token_, name_;

  std::mutex mu_;
  StreamReactor* stream_ = nullptr;  // the live stream, null while down
  bool welcomed_ = false;
  absl::Duration heartbeat_interval_ = absl::Seconds(10);
  absl::Time next_heartbeat_ = absl::InfiniteFuture();
  absl::Time reconnect_at_ = absl::InfiniteFuture();
  int backoff_attempts_ = 0;
};

struct FleetOptions {
  std::string address;
  int channels = 8;
  // Finish every assigned job at once (JobStarted, TaskResult, JobCompleted).
  // When false, on_assign must finish it.
  bool auto_finish = true;
  // Console chunks sent per job before it completes (0: none).
  int console_chunks = 0;
  std::string name_prefix = "sim";
  // The real agent's reconnect backoff (agent/backoff.h).
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_max = absl::Seconds(10);
};

struct FleetHooks {
  // On a gRPC thread, as each message arrives; keep them short.
  std::function<void(SimAgent&, const v1::Assign&, absl::Time)> on_assign;
  std::function<void(SimAgent&, int64_t attempt_id, absl::Time)> on_completion_ack;
  std::function<void(SimAgent&, const v1::ConsoleAck&)> on_console_ack;
};

struct FleetCounters {
  int64_t welcomed_now = 0;     // agents whose live stream got a Welcome
  int64_t welcomes = 0;         // Welcome messages in all
  int64_t assigns = 0;
  int64_t completion_acks = 0;
  int64_t abandons = 0;
  int64_t streams_opened = 0;
  int64_t streams_failed = 0;   // streams that ended (any status)
  absl::Time last_welcome;      // when the newest Welcome arrived
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
  FleetCounters counters();
  // When each Welcome at or after `since` arrived.
  std::vector<absl::Time> WelcomesSince(absl::Time since);
  int size() const { return static_cast<int>(agents_.size()); }
  SimAgent& agent(int i) { return *agents_[i]; }
  v1::AgentService::Stub* stub(int channel) { return stubs_[channel].get(); }

 private:
  friend class SimAgent;
  friend class StreamReactor;

  void TimerLoop();
  void OpenStream(SimAgent& agent);
  void OnMessage(SimAgent& agent, const v1::ControllerMessage& message);
  // A stream ended: DetachStream first (no one reaches it any more; returns
  // whether the agent had been welcomed), then the reactor is deleted, then
  // StreamEnded, after which Shutdown may destroy the channels it used.
  bool DetachStream(SimAgent& agent, StreamReactor* stream, bool got_message);
  void StreamEnded(bool was_welcomed);
  absl::Duration NextBackoff(SimAgent& agent);

  FleetOptions options_;
  FleetHooks hooks_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_;
  std::vector<std::unique_ptr<SimAgent>> agents_;

  std::mutex mu_;
  std::condition_variable cv_;
  FleetCounters counters_;
  std::vector<absl::Time> welcome_times_;
  int64_t live_streams_ = 0;
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace gantry::bench
