#include "controller/http/event_hub.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controller/http/json_error.h"
#include "controller/http/proto_json.h"
#include "controller/http/session_auth.h"

namespace gantry::http {

namespace net = boost::asio;

namespace {

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

}  // namespace

EventHub::EventHub(net::io_context& io, Deps deps)
    : deps_(deps),
      strand_(net::make_strand(io)),
      flush_timer_(strand_),
      ping_timer_(strand_),
      agents_timer_(strand_) {
  net::post(strand_, [this] { Ping(); });
}

void EventHub::Stop() {
  auto done = std::make_shared<std::promise<void>>();
  auto stopped = done->get_future();
  net::post(strand_, [this, done] {
    stopped_ = true;
    flush_timer_.cancel();
    ping_timer_.cancel();
    agents_timer_.cancel();
    for (auto& v : viewers_) v.stream->Close();
    viewers_.clear();
    viewer_count_ = 0;
    done->set_value();
  });
  // The I/O threads run it; if they are gone already, nothing is left to stop.
  stopped.wait_for(std::chrono::seconds(1));
}

Handler EventHub::Route() {
  return [this](std::shared_ptr<Exchange> ex) {
    auto token = CallerToken(*ex);
    if (!token.ok()) return ex->Respond(ErrorResponse(token.status()));
    if (token->empty()) {
      return ex->Respond(ErrorResponse(absl::UnauthenticatedError("no token given")));
    }
    auto info = deps_.tokens->Authenticate(*token, absl::Now());
    if (!info) {
      return ex->Respond(ErrorResponse(absl::UnauthenticatedError("invalid or expired token")));
    }
    Viewer v;
    v.who = deps_.authz->Resolve(*info, absl::StrCat("http:", ex->peer()));
    v.token = *token;
    for (absl::string_view p : absl::StrSplit(ex->Query("pipelines"), ',', absl::SkipEmpty())) {
      v.pipelines.emplace(p);
    }
    v.agents = ex->Query("agents") == "1" || ex->Query("agents") == "true";
    Follower follower;
    std::string attempt = ex->Query("attempt");
    if (!attempt.empty()) {
      // Following a job's console: the same check as GetJobLog.
      auto& r = follower.request;
      int64_t counter = 0, offset = 0;
      int32_t stage_counter = 0;
      r.set_pipeline(ex->Query("pipeline"));
      r.set_stage(ex->Query("stage"));
      r.set_job(ex->Query("job"));
      if (!absl::SimpleAtoi(attempt, &v.attempt) || v.attempt <= 0 ||
          !absl::SimpleAtoi(ex->Query("counter"), &counter) ||
          (!ex->Query("stageCounter").empty() &&
           !absl::SimpleAtoi(ex->Query("stageCounter"), &stage_counter)) ||
          (!ex->Query("offset").empty() && !absl::SimpleAtoi(ex->Query("offset"), &offset)) ||
          r.pipeline().empty() || r.stage().empty() || r.job().empty()) {
        return ex->Respond(ErrorResponse(absl::InvalidArgumentError(
            "to follow a console give attempt, pipeline, counter, stage, job (and "
            "stageCounter, offset)")));
      }
      r.set_counter(counter);
      r.set_stage_counter(stage_counter);
      r.set_offset(offset);
      if (auto st = deps_.authz->CheckView(v.who, r.pipeline()); !st.ok()) {
        return ex->Respond(ErrorResponse(st));
      }
    }
    v.stream = ex->StartEvents();
    v.stream->Send("ready", absl::StrCat("{\"user\":", JsonQuote(v.who.user), "}"));
    net::post(strand_, [this, v = std::move(v), follower = std::move(follower)]() mutable {
      if (stopped_) return v.stream->Close();
      if (v.attempt > 0) {
        auto [it, added] = followers_.try_emplace(v.attempt, std::move(follower));
        if (added) it->second.dirty = true;
        ScheduleFlush();
      }
      Add(std::move(v));
    });
  };
}

void EventHub::Add(Viewer viewer) {
  bool agents = viewer.agents;
  viewers_.push_back(std::move(viewer));
  viewer_count_ = viewers_.size();
  if (agents && !agents_polling_) {
    agents_polling_ = true;
    PollAgents();
  }
}

void EventHub::OnChange(const ChangeNotice& notice) {
  if (notice.empty()) return;
  int64_t at = NowUs();
  std::vector<RunKey> runs;
  for (const auto& r : notice.runs) runs.push_back({r.pipeline, r.counter});
  std::vector<int64_t> attempts = notice.console_attempts;
  for (const auto& j : notice.jobs) attempts.push_back(j.attempt_id);
  bool jobs = !notice.jobs.empty();
  net::post(strand_, [this, runs = std::move(runs), attempts = std::move(attempts), jobs, at] {
    if (stopped_ || viewers_.empty()) return;
    for (const auto& k : runs) MarkRun(k, at);
    for (int64_t a : attempts) {
      auto it = followers_.find(a);
      if (it == followers_.end()) continue;
      it->second.dirty = true;
      if (it->second.fetch.noticed_us == 0) it->second.fetch.noticed_us = at;
    }
    // A job assigned or finished changes what its agent is doing.
    if (jobs && agents_polling_) {
      agents_dirty_ = true;
      if (agents_fetch_.noticed_us == 0) agents_fetch_.noticed_us = at;
    }
    ScheduleFlush();
  });
}

void EventHub::MarkRun(const RunKey& key, int64_t noticed_us) {
  if (!AnyoneWants(key.pipeline)) return;
  Fetch& f = runs_[key];
  if (f.noticed_us == 0) f.noticed_us = noticed_us;
  dirty_runs_.insert(key);
}

bool EventHub::Wants(const Viewer& v, const config::Config& config,
                     const std::string& pipeline) const {
  if (v.stream->closed()) return false;
  if (!v.pipelines.empty() && !v.pipelines.count(pipeline)) return false;
  return Authorizer::MayView(config, v.who, pipeline);
}

bool EventHub::AnyoneWants(const std::string& pipeline) {
  auto config = deps_.authz->current();
  if (!config) return false;
  for (const auto& v : viewers_) {
    if (Wants(v, *config, pipeline)) return true;
  }
  return false;
}

void EventHub::ScheduleFlush() {
  if (flush_scheduled_ || stopped_) return;
  flush_scheduled_ = true;
  flush_timer_.expires_after(kFlushDelay);
  flush_timer_.async_wait([this](boost::system::error_code ec) {
    flush_scheduled_ = false;
    if (ec || stopped_) return;
    Flush();
  });
}

void EventHub::Flush() {
  std::set<RunKey> dirty;
  dirty.swap(dirty_runs_);
  for (const auto& key : dirty) FetchRun(key);
  for (auto& [attempt, f] : followers_) {
    if (f.dirty) FetchConsole(attempt);
  }
  if (agents_dirty_) FetchAgents();
}

void EventHub::FetchRun(const RunKey& key) {
  Fetch& f = runs_[key];
  if (f.in_flight) {
    f.again = true;
    return;
  }
  f.in_flight = true;
  int64_t noticed = f.noticed_us;
  f.noticed_us = 0;
  v1::GetPipelineRunRequest req;
  req.set_pipeline(key.pipeline);
  req.set_counter(key.counter);
  deps_.reads->GetPipelineRun(req, [this, key, noticed](absl::StatusOr<v1::PipelineRun> run) {
    net::post(strand_, [this, key, noticed, run = std::move(run)] {
      Fetch& f = runs_[key];
      f.in_flight = false;
      if (stopped_) return;
      if (run.ok()) {
        std::string data = absl::StrCat("{\"at\":", noticed, ",\"run\":", ToJson(*run), "}");
        auto config = deps_.authz->current();
        for (auto& v : viewers_) {
          if (config && Wants(v, *config, key.pipeline)) v.stream->Send("run", data);
        }
      } else {
        spdlog::debug("events: cannot read {}/{}: {}", key.pipeline, key.counter,
                      run.status().ToString());
      }
      if (f.again) {
        f.again = false;
        if (f.noticed_us == 0) f.noticed_us = noticed;
        dirty_runs_.insert(key);
        ScheduleFlush();
      } else if (f.noticed_us == 0) {
        runs_.erase(key);
      }
    });
  });
}

void EventHub::FetchConsole(int64_t attempt) {
  Follower& f = followers_[attempt];
  f.dirty = false;
  if (f.fetch.in_flight) {
    f.fetch.again = true;
    return;
  }
  f.fetch.in_flight = true;
  int64_t noticed = f.fetch.noticed_us;
  f.fetch.noticed_us = 0;
  v1::GetJobLogRequest req = f.request;
  deps_.reads->GetJobLog(
      req, [this, attempt, req, noticed](absl::StatusOr<v1::GetJobLogResponse> log) {
        net::post(strand_, [this, attempt, req, noticed, log = std::move(log)] {
          auto it = followers_.find(attempt);
          if (it == followers_.end() || stopped_) return;
          Follower& f = it->second;
          f.fetch.in_flight = false;
          bool more = false;
          if (log.ok()) {
            if (!log->data().empty() || log->complete()) {
              std::string data =
                  absl::StrCat("{\"at\":", noticed, ",\"attemptId\":", attempt,
                               ",\"offset\":", req.offset(), ",\"log\":", ToJson(*log), "}");
              for (auto& v : viewers_) {
                if (v.attempt == attempt && !v.stream->closed()) v.stream->Send("console", data);
              }
            }
            f.request.set_offset(log->next_offset());
            // A read returns at most a chunk of a long log: go on while it gives.
            more = !log->data().empty() && !log->complete();
          }
          if (more || f.fetch.again) {
            f.fetch.again = false;
            f.dirty = true;
            ScheduleFlush();
          }
        });
      });
}

void EventHub::PollAgents() {
  if (stopped_) return;
  bool watched = false;
  for (const auto& v : viewers_) watched = watched || (v.agents && !v.stream->closed());
  if (!watched) {
    agents_polling_ = false;
    last_agents_.clear();
    return;
  }
  agents_dirty_ = true;
  if (agents_fetch_.noticed_us == 0) agents_fetch_.noticed_us = NowUs();
  ScheduleFlush();
  agents_timer_.expires_after(kAgentsEvery);
  agents_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) PollAgents();
  });
}

void EventHub::FetchAgents() {
  agents_dirty_ = false;
  if (agents_fetch_.in_flight) {
    agents_fetch_.again = true;
    return;
  }
  agents_fetch_.in_flight = true;
  int64_t noticed = agents_fetch_.noticed_us;
  agents_fetch_.noticed_us = 0;
  deps_.scheduler->ListAgents([this, noticed](absl::StatusOr<v1::ListAgentsResponse> agents) {
    net::post(strand_, [this, noticed, agents = std::move(agents)] {
      agents_fetch_.in_flight = false;
      if (stopped_ || !agents.ok()) return;
      std::string list = ToJson(*agents);
      if (list != last_agents_) {
        last_agents_ = list;
        // ListAgentsResponse is {"agents": [...]}: splice `at` in front.
        std::string data = absl::StrCat("{\"at\":", noticed, ",", list.substr(1));
        for (auto& v : viewers_) {
          if (v.agents && !v.stream->closed()) v.stream->Send("agents", data);
        }
      }
      if (agents_fetch_.again) {
        agents_fetch_.again = false;
        agents_dirty_ = true;
        ScheduleFlush();
      }
    });
  });
}

void EventHub::Ping() {
  if (stopped_) return;
  // Drop the gone, and those whose token was revoked or expired since.
  absl::Time now = absl::Now();
  for (auto it = viewers_.begin(); it != viewers_.end();) {
    if (!it->stream->closed() && !deps_.tokens->Authenticate(it->token, now)) {
      it->stream->Close();
    }
    if (it->stream->closed()) {
      it = viewers_.erase(it);
      continue;
    }
    it->stream->Ping();
    ++it;
  }
  viewer_count_ = viewers_.size();
  std::set<int64_t> followed;
  for (const auto& v : viewers_) followed.insert(v.attempt);
  std::erase_if(followers_, [&](const auto& kv) {
    return !followed.count(kv.first) && !kv.second.fetch.in_flight;
  });
  ping_timer_.expires_after(kPingEvery);
  ping_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Ping();
  });
}

}  // namespace gantry::http
