// Prometheus metrics at GET /metrics (text format 0.0.4), through
// prometheus-cpp's core library (its registry and text serializer; the HTTP
// side is ours, so no second listener and no civetweb).
//
// Most figures come from the scheduler's commit notices
// (scheduling/change_notice.h): scheduling latencies from the committed job
// rows' times, jobs by result, commit time and failures, jobs waiting. The
// rest is read when scraped: agents by state (the scheduler's agent list),
// the strand's queue, HTTP connections and event viewers.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controller/http/http_server.h"
#include "controller/scheduling/change_notice.h"
#include "controller/scheduling/scheduler.h"

namespace gantry::http {

class Metrics {
 public:
  Metrics();

  // Any thread; quick (counters and a small map under a mutex).
  void OnChange(const ChangeNotice& notice);
  void CountHttp(Verb method, const std::string& route, unsigned status);

  // Figures read at scrape time: set by the frontend.
  struct Sources {
    Scheduler* scheduler = nullptr;
    // Where the answer is built: never on the scheduler's strand, which
    // answers ListAgents.
    boost::asio::io_context* io = nullptr;
    std::function<size_t()> http_connections;
    std::function<size_t()> event_viewers;
  };
  void set_sources(Sources sources) { sources_ = std::move(sources); }
  // The GET /metrics handler.
  Handler Route();

 private:
  std::string Render();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Counter>& grpc_requests_;
  prometheus::Family<prometheus::Histogram>& scheduling_latency_;
  prometheus::Histogram& trigger_to_assign_;
  prometheus::Histogram& assign_to_start_;
  prometheus::Family<prometheus::Counter>& jobs_finished_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Counter& commit_failures_;
  prometheus::Family<prometheus::Gauge>& jobs_waiting_;
  prometheus::Family<prometheus::Gauge>& agents_;
  prometheus::Gauge& strand_queue_;
  prometheus::Gauge& http_connections_;
  prometheus::Gauge& event_viewers_;
  prometheus::Family<prometheus::Counter>& artifact_bytes_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  // The leader lease (controller/leader/): 1 leading, 0 standing by; epoch.
  prometheus::Gauge& leader_;
  prometheus::Gauge& lease_epoch_;

  Sources sources_;
  std::mutex mu_;
  // Unfinished job attempts seen in notices and their state: "jobs waiting"
  // are those scheduled (no agent yet) or assigned (not started yet).
  std::map<int64_t, JobState> open_jobs_;
  // gRPC calls already counted, per (method, code).
  std::map<std::pair<std::string, int>, int64_t> grpc_seen_;
  // Artifact bytes already counted (artifacts/artifact_traffic.h).
  uint64_t artifact_in_seen_ = 0;
  uint64_t artifact_out_seen_ = 0;
};

}  // namespace gantry::http
