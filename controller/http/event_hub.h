// Live events for the dashboard and scripts: GET /api/v1/events, a
// Server-Sent Events stream (docs/api.md, "Live events").
//
// The scheduler tells the hub after each commit which runs, jobs and console
// logs changed (scheduling/change_notice.h); the hub, on a strand of the HTTP
// I/O context, gathers what changed for up to kFlushDelay, reads each changed
// run once from the read pool and sends it to every viewer who may see its
// pipeline, so a thousand viewers of one run cost one read per change, not a
// thousand. Console output of a job being viewed is read the same way, once
// per attempt for all its viewers. Agents are read from the scheduler (its
// admin view, built on the strand in microseconds) every kAgentsEvery while
// someone watches them, and sent when they changed.
//
// Nothing here blocks: reads complete on the read pool's threads and post
// back to the hub's strand; a viewer whose socket backs up is dropped by its
// stream (http_server.h), never waited for.
//
// Events (each `data` is one line of JSON):
//   ready    {"user": ...}                         once, when the stream opens
//   run      {"at": US, "run": PipelineRun}        a run changed
//   console  {"at": US, "attemptId": N, "offset": O, "log": GetJobLogResponse}
//   agents   {"at": US, "agents": [Agent...]}      the agents changed
// `at` is when the hub heard of the change (unix microseconds), for
// measuring event delay.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "controller/auth.h"
#include "controller/authz.h"
#include "controller/http/http_server.h"
#include "controller/read_service.h"
#include "controller/scheduling/change_notice.h"
#include "controller/scheduling/scheduler.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::http {

class EventHub {
 public:
  struct Deps {
    ReadService* reads;
    Scheduler* scheduler;
    const TokenRegistry* tokens;
    const Authorizer* authz;
  };
  static constexpr auto kFlushDelay = std::chrono::milliseconds(50);
  static constexpr auto kAgentsEvery = std::chrono::seconds(2);
  static constexpr auto kPingEvery = std::chrono::seconds(15);

  EventHub(boost::asio::io_context& io, Deps deps);

  // The GET /api/v1/events handler.
  Handler Route();
  // From the scheduler's strand: posts and returns.
  void OnChange(const ChangeNotice& notice);
  // Ends every stream and the timers (before the HTTP server stops).
  void Stop();
  size_t viewers() const { return viewer_count_.load(); }

 private:
  struct Viewer {
    std::shared_ptr<EventStream> stream;
    Principal who;
    std::string token;
    std::set<std::string> pipelines;  // empty: every pipeline the viewer may see
    bool agents = false;
    int64_t attempt = 0;  // the job attempt whose console it follows; 0 none
  };
  struct RunKey {
    std::string pipeline;
    int64_t counter;
    bool operator<(const RunKey& o) const {
      return std::tie(pipeline, counter) < std::tie(o.pipeline, o.counter);
    }
  };
  struct Fetch {
    bool in_flight = false;
    bool again = false;  // changed again while being read
    int64_t noticed_us = 0;
  };
  struct Follower {
    v1::GetJobLogRequest request;  // offset = where the next read starts
    Fetch fetch;
    bool dirty = false;
  };

  // All on strand_.
  void Add(Viewer viewer);
  void MarkRun(const RunKey& key, int64_t noticed_us);
  void ScheduleFlush();
  void Flush();
  void FetchRun(const RunKey& key);
  void FetchConsole(int64_t attempt);
  void FetchAgents();
  void Ping();
  void PollAgents();
  bool Wants(const Viewer& v, const config::Config& config, const std::string& pipeline) const;
  bool AnyoneWants(const std::string& pipeline);

  Deps deps_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer flush_timer_;
  boost::asio::steady_timer ping_timer_;
  boost::asio::steady_timer agents_timer_;
  bool flush_scheduled_ = false;
  bool stopped_ = false;
  std::list<Viewer> viewers_;
  std::map<RunKey, Fetch> runs_;
  std::set<RunKey> dirty_runs_;
  std::map<int64_t, Follower> followers_;
  Fetch agents_fetch_;
  bool agents_dirty_ = false;
  bool agents_polling_ = false;
  std::string last_agents_;
  std::atomic<size_t> viewer_count_{0};
};

}  // namespace gantry::http
