#include "tests/bench/sim_agents.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <random>

#include "absl/strings/str_cat.h"

namespace gantry::bench {

// One Session stream of one agent. Lives until OnDone; a reconnect makes a
// new one. Lock order: SimAgent::mu_, then StreamReactor::mu_.
class StreamReactor final
    : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  StreamReactor(Fleet* fleet, SimAgent* agent, v1::AgentService::Stub* stub,
                const v1::AgentMessage& hello)
      : fleet_(fleet), agent_(agent) {
    stub->async()->Session(&context_, this);
    // Held until the read side ends, so writes from other threads (heartbeats,
    // job reports) never race with OnDone.
    AddHold();
    StartRead(&incoming_);
    outgoing_.push_back(hello);
    writing_ = true;
    StartWrite(&outgoing_.front());
  }

  void Start() { StartCall(); }

  void Enqueue(const v1::AgentMessage& message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (dead_) return;
    outgoing_.push_back(message);
    if (!writing_) {
      writing_ = true;
      StartWrite(&outgoing_.front());
    }
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dead_ = true;
      }
      RemoveHold();
      return;
    }
    got_message_ = true;
    fleet_->OnMessage(*agent_, incoming_);
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    outgoing_.pop_front();
    writing_ = false;
    if (!ok) {
      dead_ = true;  // the read side fails too and releases the hold
      return;
    }
    if (!dead_ && !outgoing_.empty()) {
      writing_ = true;
      StartWrite(&outgoing_.front());
    }
  }

  void OnDone(const grpc::Status& status) override {
    // The reactor (its ClientContext holds the call) must be gone before the
    // fleet counts the stream ended: Shutdown then frees the channels.
    Fleet* fleet = fleet_;
    bool was_welcomed = fleet->DetachStream(*agent_, this, got_message_);
    delete this;
    fleet->StreamEnded(was_welcomed);
  }

 private:
  Fleet* fleet_;
  SimAgent* agent_;
  grpc::ClientContext context_;
  v1::ControllerMessage incoming_;
  bool got_message_ = false;  // reaction threads only

  std::mutex mu_;
  std::deque<v1::AgentMessage> outgoing_;
  bool writing_ = false;
  bool dead_ = false;
};

// ---------------------------------------------------------------- SimAgent

void SimAgent::Send(const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_ != nullptr) stream_->Enqueue(message);
}

v1::AgentService::Stub* SimAgent::stub() const { return fleet_->stub(channel_); }

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
  if (options_.channels < 1) options_.channels = 1;
  for (int i = 0; i < options_.channels; ++i) {
    grpc::ChannelArguments args;
    // Its own subchannel, so each channel is its own TCP connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("gantry.bench.channel", i);
    // As the real agent (agent/session.cc).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 330000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.backoff_initial)));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.backoff_initial)));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.backoff_max)));
    args.SetMaxReceiveMessageSize(-1);
    auto channel =
        grpc::CreateCustomChannel(options_.address, grpc::InsecureChannelCredentials(), args);
    stubs_.push_back(v1::AgentService::NewStub(channel));
    channels_.push_back(std::move(channel));
  }
}

Fleet::~Fleet() { Shutdown(); }

absl::Status Fleet::Register(int count, const std::string& register_key, int parallel) {
  int base = static_cast<int>(agents_.size());
  for (int i = 0; i < count; ++i) {
    auto a = std::make_unique<SimAgent>();
    a->fleet_ = this;
    a->index_ = base + i;
    a->channel_ = (base + i) % options_.channels;
    a->name_ = absl::StrCat(options_.name_prefix, "-", base + i);
    agents_.push_back(std::move(a));
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
        grpc::Status st = stubs_[a.channel_]->Register(&ctx, req, &resp);
        if (!st.ok() || resp.state() != "enabled") {
          std::lock_guard<std::mutex> lock(err_mu);
          if (error.ok()) {
            error = absl::InternalError(absl::StrCat("Register ", a.name_, ": ",
                                                     st.error_message(), " state ",
                                                     resp.state()));
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
  if (!timer_.joinable() && !stopping_) timer_ = std::thread([this] { TimerLoop(); });
}

void Fleet::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
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

FleetCounters Fleet::counters() {
  std::lock_guard<std::mutex> lock(mu_);
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

void Fleet::OpenStream(SimAgent& agent) {
  v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id(agent.id_);
  hello.mutable_hello()->set_token(agent.token_);
  hello.mutable_hello()->set_hostname(agent.name_ + ".bench");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_streams_;
    ++counters_.streams_opened;
  }
  auto* stream = new StreamReactor(this, &agent, stubs_[agent.channel_].get(), hello);
  {
    std::lock_guard<std::mutex> lock(agent.mu_);
    agent.stream_ = stream;
    agent.welcomed_ = false;
    agent.reconnect_at_ = absl::InfiniteFuture();
  }
  stream->Start();
}

void Fleet::TimerLoop() {
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
    for (auto& a : agents_) {
      bool open = false;
      {
        std::lock_guard<std::mutex> lock(a->mu_);
        if (a->stream_ == nullptr) {
          open = now >= a->reconnect_at_;
        } else if (a->welcomed_ && now >= a->next_heartbeat_) {
          a->stream_->Enqueue(heartbeat);
          a->next_heartbeat_ = now + a->heartbeat_interval_;
        }
      }
      if (open) OpenStream(*a);
    }
  }
}

absl::Duration Fleet::NextBackoff(SimAgent& agent) {
  // agent/backoff.h: uniform in [0, min(max, initial * 2^n)].
  thread_local std::mt19937_64 rng(std::random_device{}());
  double ceiling = absl::ToDoubleSeconds(options_.backoff_initial) *
                   static_cast<double>(1ULL << std::min(agent.backoff_attempts_, 30));
  ceiling = std::min(ceiling, absl::ToDoubleSeconds(options_.backoff_max));
  ++agent.backoff_attempts_;
  return absl::Seconds(std::uniform_real_distribution<double>(0, ceiling)(rng));
}

void Fleet::OnMessage(SimAgent& agent, const v1::ControllerMessage& message) {
  absl::Time now = absl::Now();
  switch (message.kind_case()) {
    case v1::ControllerMessage::kWelcome: {
      bool first = false;
      {
        std::lock_guard<std::mutex> lock(agent.mu_);
        first = !agent.welcomed_;
        agent.welcomed_ = true;
        if (message.welcome().heartbeat_interval_ms() > 0) {
          agent.heartbeat_interval_ = absl::Milliseconds(message.welcome().heartbeat_interval_ms());
        }
        agent.next_heartbeat_ = now + agent.heartbeat_interval_;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.welcomes;
        if (first) ++counters_.welcomed_now;
        counters_.last_welcome = now;
        welcome_times_.push_back(now);
      }
      cv_.notify_all();
      break;
    }
    case v1::ControllerMessage::kAssign: {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.assigns;
      }
      if (hooks_.on_assign) hooks_.on_assign(agent, message.assign(), now);
      if (options_.auto_finish) agent.FinishJob(message.assign().attempt_id());
      break;
    }
    case v1::ControllerMessage::kCompletionAck: {
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
      if (hooks_.on_console_ack) hooks_.on_console_ack(agent, message.console_ack());
      break;
    case v1::ControllerMessage::kAbandon: {
      std::lock_guard<std::mutex> lock(mu_);
      ++counters_.abandons;
      break;
    }
    default:
      break;
  }
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
      if (got_message) agent.backoff_attempts_ = 0;
      agent.reconnect_at_ =
          stopping ? absl::InfiniteFuture() : absl::Now() + NextBackoff(agent);
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
