#include "tests/bench/sim_agents.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/bench/controller_proc.h"
#include "tests/bench/sim_stream.h"

namespace gantry::bench {

// ---------------------------------------------------------------- SimAgent

void SimAgent::Send(const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_ != nullptr) stream_->Enqueue(message);
}

v1::AgentService::Stub* SimAgent::stub() {
  std::lock_guard<std::mutex> lock(mu_);
  if (own_stub_) return own_stub_.get();
  return fleet_->stub(channel_);
}

void SimAgent::FinishJob(int64_t attempt_id, const std::string& result) {
  v1::AgentMessage m;
  m.mutable_job_started()->set_attempt_id(attempt_id);
  Send(m);
  int chunks = fleet_->options_.console_chunks;
  for (int i = 1; i <= chunks; ++i) {
    m.Clear();
    auto* c = m.mutable_console();
    c->set_attempt_id(attempt_id);
    c->set_sequence(i);
    c->set_data(absl::StrCat("bench console line ", i, "\n"));
    Send(m);
  }
  m.Clear();
  auto* t = m.mutable_task_result();
  t->set_attempt_id(attempt_id);
  t->set_task_index(0);
  t->set_outcome(result);
  Send(m);
  m.Clear();
  auto* done = m.mutable_job_completed();
  done->set_attempt_id(attempt_id);
  done->set_result(result);
  done->set_last_sequence(chunks);
  Send(m);
}

// ---------------------------------------------------------------- Fleet

Fleet::Fleet(FleetOptions options, FleetHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {
  addresses_ = absl::StrSplit(options_.address, ',', absl::SkipEmpty());
  if (addresses_.empty()) addresses_.push_back(options_.address);
  if (options_.channels < 1) options_.channels = 1;
  if (options_.dial_per_attempt) return;
  for (int i = 0; i < options_.channels; ++i) {
    auto channel = Dial(i);
    stubs_.push_back(v1::AgentService::NewStub(channel));
    channels_.push_back(std::move(channel));
  }
}

Fleet::~Fleet() { Shutdown(); }

std::shared_ptr<grpc::Channel> Fleet::Dial(int tag, size_t target) {
  grpc::ChannelArguments args;
  // Its own subchannel, so each channel is its own TCP connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("gantry.bench.channel", tag);
  // As the real agent (agent/session.cc Dial): gRPC's minimum connect
  // timeout (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS) stays at its 20 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 330000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.backoff.initial)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.backoff.restart_max)));
  args.SetMaxReceiveMessageSize(-1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.channels_dialled;
  }
  return grpc::CreateCustomChannel(addresses_[target % addresses_.size()], ControllerCredentials(),
                                   args);
}

absl::Status Fleet::Register(int count, const std::string& register_key, int parallel) {
  int base = static_cast<int>(agents_.size());
  for (int i = 0; i < count; ++i) {
    auto a = std::make_unique<SimAgent>();
    a->fleet_ = this;
    a->index_ = base + i;
    a->channel_ = (base + i) % options_.channels;
    a->name_ = absl::StrCat(options_.name_prefix, "-", base + i);
    a->backoff_.emplace(options_.backoff);
    agents_.push_back(std::move(a));
  }
  // Registration is unary: with dial_per_attempt a few shared channels do.
  std::vector<std::unique_ptr<v1::AgentService::Stub>> dialled;
  if (options_.dial_per_attempt) {
    for (int i = 0; i < std::min(parallel, 8); ++i)
      dialled.push_back(v1::AgentService::NewStub(Dial(i)));
  }
  std::atomic<int> next{base};
  std::mutex err_mu;
  absl::Status error;
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, parallel); ++t) {
    threads.emplace_back([&] {
      while (true) {
        int i = next.fetch_add(1);
        if (i >= base + count) return;
        SimAgent& a = *agents_[i];
        v1::RegisterRequest req;
        req.set_register_key(register_key);
        req.set_name(a.name_);
        req.set_hostname(a.name_ + ".bench");
        v1::RegisterResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
        ctx.set_wait_for_ready(true);
        auto* stub = dialled.empty() ? stubs_[a.channel_].get() : dialled[i % dialled.size()].get();
        grpc::Status st = stub->Register(&ctx, req, &resp);
        if (!st.ok() || resp.state() != "enabled") {
          std::lock_guard<std::mutex> lock(err_mu);
          if (error.ok()) {
            error = absl::InternalError(absl::StrCat("Register ", a.name_, ": ", st.error_message(),
                                                     " state ", resp.state()));
          }
          return;
        }
        a.id_ = resp.agent_id();
        a.token_ = resp.token();
      }
    });
  }
  for (auto& t : threads) t.join();
  return error;
}

void Fleet::ConnectAll() {
  absl::Time now = absl::Now();
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    if (a->stream_ == nullptr) a->reconnect_at_ = now;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!timers_.empty() || stopping_) return;
  int shards = std::max(1, options_.timer_threads);
  for (int k = 0; k < shards; ++k) {
    timers_.emplace_back([this, k, shards] { TimerLoop(k, shards); });
  }
}

void Fleet::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : timers_) t.join();
  for (auto& a : agents_) {
    std::lock_guard<std::mutex> lock(a->mu_);
    a->reconnect_at_ = absl::InfiniteFuture();
    if (a->stream_ != nullptr) a->stream_->Cancel();
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(30), [this] { return live_streams_ == 0; });
}

bool Fleet::WaitWelcomed(int64_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return counters_.welcomed_now >= n; });
}

bool Fleet::WaitCounters(const std::function<bool(const FleetCounters&)>& done,
                         absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
    counters_.console_written = console_written_.load(std::memory_order_relaxed);
    return done(counters_);
  });
}

FleetCounters Fleet::counters() {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.console_written = console_written_.load(std::memory_order_relaxed);
  return counters_;
}

std::vector<absl::Time> Fleet::WelcomesSince(absl::Time since) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<absl::Time> out;
  for (absl::Time t : welcome_times_) {
    if (t >= since) out.push_back(t);
  }
  return out;
}

v1::AgentMessage Fleet::HelloOf(SimAgent& agent) {
  v1::AgentMessage hello;
  auto* h = hello.mutable_hello();
  h->set_agent_id(agent.id_);
  h->set_token(agent.token_);
  h->set_hostname(agent.name_ + ".bench");
  // One simulated process per agent: its reconnects replace its own stale
  // session, as the real agent's do (a different nonce would be a clone).
  h->set_session_nonce(agent.id_ + "-bench");
  std::lock_guard<std::mutex> lock(agent.mu_);
  const auto& c = agent.console_;
  if (c && !c->completed && !c->abandoned) {
    auto* held = h->add_held();
    held->set_attempt_id(c->attempt_id);
    held->set_last_sequence(agent.ProducedLocked(absl::Now()));
    held->set_finished(c->completion_sent);
  }
  return hello;
}

void Fleet::OpenStream(SimAgent& agent) {
  v1::AgentMessage hello = HelloOf(agent);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_streams_;
    ++counters_.streams_opened;
  }
  std::shared_ptr<grpc::Channel> channel;
  v1::AgentService::Stub* stub = nullptr;
  if (options_.dial_per_attempt) {
    // The old channel lives on in its stream's reactor until that is done.
    size_t target;
    {
      std::lock_guard<std::mutex> lock(agent.mu_);
      target = agent.target_;
    }
    channel = Dial(agent.index_, target);
    auto fresh = v1::AgentService::NewStub(channel);
    stub = fresh.get();
    std::lock_guard<std::mutex> lock(agent.mu_);
    agent.own_channel_ = channel;
    agent.own_stub_ = std::move(fresh);
  } else {
    channel = channels_[agent.channel_];
    stub = stubs_[agent.channel_].get();
  }
  auto* stream = new StreamReactor(this, &agent, stub, channel, hello);
  {
    std::lock_guard<std::mutex> lock(agent.mu_);
    agent.stream_ = stream;
    agent.welcomed_ = false;
    agent.welcome_deadline_ = absl::Now() + options_.welcome_timeout;
    agent.reconnect_at_ = absl::InfiniteFuture();
  }
  stream->Start();
}

void Fleet::TimerLoop(int shard, int shards) {
  v1::AgentMessage heartbeat;
  heartbeat.mutable_heartbeat();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stopping_; })) {
        return;
      }
    }
    absl::Time now = absl::Now();
    for (size_t i = shard; i < agents_.size(); i += shards) TimerPass(*agents_[i], now, heartbeat);
  }
}

void Fleet::TimerPass(SimAgent& a, absl::Time now, const v1::AgentMessage& heartbeat) {
  bool open = false, timed_out = false;
  absl::Time due;
  {
    std::lock_guard<std::mutex> lock(a.mu_);
    if (a.stream_ == nullptr) {
      open = now >= a.reconnect_at_;
      due = a.reconnect_at_;
    } else if (!a.welcomed_) {
      // agent/session.cc: no Welcome within rpc_timeout ends the attempt.
      if (now >= a.welcome_deadline_) {
        a.welcome_deadline_ = absl::InfiniteFuture();
        a.stream_->Cancel();
        timed_out = true;
      }
    } else {
      if (now >= a.next_heartbeat_) {
        a.stream_->Enqueue(heartbeat);
        a.next_heartbeat_ = now + a.heartbeat_interval_;
      }
      PumpConsoleLocked(a, now);
    }
  }
  if (timed_out) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.welcome_timeouts;
  }
  if (!open) return;
  absl::Time t0 = absl::Now();
  OpenStream(a);
  absl::Time t1 = absl::Now();
  std::lock_guard<std::mutex> lock(mu_);
  opens_.push_back({t0, t0 - due, t1 - t0});
}

std::vector<Fleet::Open> Fleet::OpensSince(absl::Time since) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Open> out;
  for (const Open& o : opens_) {
    if (o.at >= since) out.push_back(o);
  }
  return out;
}

void Fleet::OnWelcome(SimAgent& agent, const v1::Welcome& welcome, absl::Time now) {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(agent.mu_);
    first = !agent.welcomed_;
    agent.welcomed_ = true;
    if (welcome.heartbeat_interval_ms() > 0) {
      agent.heartbeat_interval_ = absl::Milliseconds(welcome.heartbeat_interval_ms());
    }
    agent.next_heartbeat_ = now + agent.heartbeat_interval_;
    if (first) ResumeConsoleLocked(agent);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.welcomes;
    if (first) ++counters_.welcomed_now;
    counters_.last_welcome = now;
    welcome_times_.push_back(now);
  }
  cv_.notify_all();
}

void Fleet::OnMessage(SimAgent& agent, const v1::ControllerMessage& message) {
  absl::Time now = absl::Now();
  switch (message.kind_case()) {
    case v1::ControllerMessage::kWelcome:
      OnWelcome(agent, message.welcome(), now);
      break;
    case v1::ControllerMessage::kAssign: {
      if (hooks_.on_assign) hooks_.on_assign(agent, message.assign(), now);
      if (options_.auto_finish) agent.FinishJob(message.assign().attempt_id());
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.assigns;
      }
      cv_.notify_all();
      break;
    }
    case v1::ControllerMessage::kCompletionAck: {
      {
        std::lock_guard<std::mutex> lock(agent.mu_);
        auto& c = agent.console_;
        if (c && c->attempt_id == message.completion_ack().attempt_id()) c->completed = true;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.completion_acks;
      }
      if (hooks_.on_completion_ack) {
        hooks_.on_completion_ack(agent, message.completion_ack().attempt_id(), now);
      }
      cv_.notify_all();
      break;
    }
    case v1::ControllerMessage::kConsoleAck:
      OnConsoleAck(agent, message.console_ack(), now);
      break;
    case v1::ControllerMessage::kAbandon: {
      {
        std::lock_guard<std::mutex> lock(agent.mu_);
        auto& c = agent.console_;
        if (c && c->attempt_id == message.abandon().attempt_id()) c->abandoned = true;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.abandons;
      }
      cv_.notify_all();
      break;
    }
    default:
      break;
  }
}

void Fleet::OnStreamIdle(SimAgent& agent) {
  std::lock_guard<std::mutex> lock(agent.mu_);
  if (agent.stream_ != nullptr && agent.welcomed_) PumpConsoleLocked(agent, absl::Now());
}

bool Fleet::DetachStream(SimAgent& agent, StreamReactor* stream, bool got_message) {
  bool was_welcomed = false;
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  {
    std::lock_guard<std::mutex> lock(agent.mu_);
    if (agent.stream_ == stream) {
      agent.stream_ = nullptr;
      was_welcomed = agent.welcomed_;
      agent.welcomed_ = false;
      agent.welcome_deadline_ = absl::InfiniteFuture();
      // agent/session.cc Run: a welcomed session's end is usually a
      // controller restart (short windows for a minute).
      if (was_welcomed) {
        agent.backoff_->ResetAfterSession();
      } else if (got_message) {
        agent.backoff_->Reset();
      }
      agent.reconnect_at_ =
          stopping ? absl::InfiniteFuture() : absl::Now() + agent.backoff_->Next();
      agent.target_ = (agent.target_ + 1) % addresses_.size();
    }
  }
  return was_welcomed;
}

void Fleet::StreamEnded(bool was_welcomed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --live_streams_;
    ++counters_.streams_failed;
    if (was_welcomed) --counters_.welcomed_now;
  }
  cv_.notify_all();
}

}  // namespace gantry::bench
