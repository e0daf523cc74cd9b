#include "controller/http/metrics.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "controller/artifacts/artifact_traffic.h"
#include "controller/http/grpc_counter.h"
#include "controller/http/json_error.h"
#include "controller/scheduling/queue_depth.h"
#include "controller/store/write_fence.h"

namespace gantry::http {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  return b;
}

bool Finished(JobState s) {
  return s == JobState::kPassed || s == JobState::kFailed || s == JobState::kCancelled ||
         s == JobState::kLost;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      http_requests_(BuildCounter()
                         .Name("gantry_http_requests_total")
                         .Help("HTTP requests answered, by method, route and status")
                         .Register(*registry_)),
      grpc_requests_(BuildCounter()
                         .Name("gantry_grpc_requests_total")
                         .Help("gRPC calls finished, by method and status code")
                         .Register(*registry_)),
      scheduling_latency_(BuildHistogram()
                              .Name("gantry_scheduling_latency_seconds")
                              .Help("Job scheduling latency: trigger (scheduled) to assigned, "
                                    "and assigned to started on the agent")
                              .Register(*registry_)),
      trigger_to_assign_(
          scheduling_latency_.Add({{"phase", "trigger_to_assign"}}, LatencyBuckets())),
      assign_to_start_(scheduling_latency_.Add({{"phase", "assign_to_start"}}, LatencyBuckets())),
      jobs_finished_(BuildCounter()
                         .Name("gantry_jobs_finished_total")
                         .Help("Job attempts finished, by result")
                         .Register(*registry_)),
      commit_seconds_(BuildHistogram()
                          .Name("gantry_db_transaction_seconds")
                          .Help("Time of the scheduler's batch transactions")
                          .Register(*registry_)
                          .Add({}, LatencyBuckets())),
      commit_failures_(BuildCounter()
                           .Name("gantry_db_transaction_errors_total")
                           .Help("Scheduler batch transactions that did not commit")
                           .Register(*registry_)
                           .Add({})),
      jobs_waiting_(BuildGauge()
                        .Name("gantry_jobs_waiting")
                        .Help("Job attempts not running yet, by what they wait for: an agent "
                              "(scheduled) or the agent to start them (assigned)")
                        .Register(*registry_)),
      agents_(BuildGauge()
                  .Name("gantry_agents")
                  .Help("Agents by state (idle, building, lost, disabled, pending, offline)")
                  .Register(*registry_)),
      strand_queue_(BuildGauge()
                        .Name("gantry_strand_queue_length")
                        .Help("Tasks waiting for the scheduler's strand")
                        .Register(*registry_)
                        .Add({})),
      http_connections_(BuildGauge()
                            .Name("gantry_http_connections")
                            .Help("Open HTTP connections, event streams included")
                            .Register(*registry_)
                            .Add({})),
      event_viewers_(BuildGauge()
                         .Name("gantry_event_viewers")
                         .Help("Open live event streams (GET /api/v1/events)")
                         .Register(*registry_)
                         .Add({})),
      artifact_bytes_(BuildCounter()
                          .Name("gantry_artifact_bytes_total")
                          .Help("Artifact content through the controller: in (uploads from "
                                "agents), out (downloads by agents' fetches and the CLI)")
                          .Register(*registry_)),
      queue_depth_(BuildGauge()
                       .Name("gantry_queue_depth")
                       .Help("Scheduled jobs waiting for an agent, by why (as of the "
                             "scheduler's last tick)")
                       .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("gantry_leader")
                  .Help("1 when this controller holds the leader lease, 0 when it stands by")
                  .Register(*registry_)
                  .Add({})),
      lease_epoch_(BuildGauge()
                       .Name("gantry_lease_epoch")
                       .Help("The leader lease's epoch this controller took (grows at every "
                             "takeover; 0 on a standby that never led)")
                       .Register(*registry_)
                       .Add({})) {
  for (const char* s : {"scheduled", "assigned"}) jobs_waiting_.Add({{"reason", s}});
  for (const char* d : {"in", "out"}) artifact_bytes_.Add({{"direction", d}});
}

void Metrics::OnChange(const ChangeNotice& notice) {
  if (notice.commit_failed) {
    commit_failures_.Increment();
    return;
  }
  commit_seconds_.Observe(absl::ToDoubleSeconds(notice.commit_time));
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& j : notice.jobs) {
    // Times are unix milliseconds.
    if (j.state == JobState::kAssigned && j.assigned_at > 0 && j.scheduled_at > 0 &&
        open_jobs_[j.attempt_id] != JobState::kAssigned) {
      trigger_to_assign_.Observe((j.assigned_at - j.scheduled_at) / 1000.0);
    }
    if (j.state == JobState::kRunning && j.started_at > 0 && j.assigned_at > 0 &&
        open_jobs_[j.attempt_id] != JobState::kRunning) {
      assign_to_start_.Observe((j.started_at - j.assigned_at) / 1000.0);
    }
    if (Finished(j.state)) {
      open_jobs_.erase(j.attempt_id);
      jobs_finished_.Add({{"result", Name(j.state)}}).Increment();
    } else {
      open_jobs_[j.attempt_id] = j.state;
    }
  }
  double scheduled = 0, assigned = 0;
  for (const auto& [id, s] : open_jobs_) {
    scheduled += s == JobState::kScheduled;
    assigned += s == JobState::kAssigned;
  }
  jobs_waiting_.Add({{"reason", "scheduled"}}).Set(scheduled);
  jobs_waiting_.Add({{"reason", "assigned"}}).Set(assigned);
}

void Metrics::CountHttp(Verb method, const std::string& route, unsigned status) {
  http_requests_
      .Add({{"method", std::string(boost::beast::http::to_string(method))},
            {"route", route.empty() ? "unknown" : route},
            {"code", std::to_string(status)}})
      .Increment();
}

std::string Metrics::Render() {
  if (sources_.http_connections) http_connections_.Set(sources_.http_connections());
  if (sources_.event_viewers) event_viewers_.Set(sources_.event_viewers());
  if (sources_.scheduler) strand_queue_.Set(sources_.scheduler->StrandQueueLength());
  {
    // Process-wide counts (grpc_counter.h) turned into the counter family.
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, n] : GrpcCallCounts()) {
      int64_t& seen = grpc_seen_[key];
      if (n > seen) {
        grpc_requests_.Add({{"method", key.first}, {"code", std::to_string(key.second)}})
            .Increment(static_cast<double>(n - seen));
        seen = n;
      }
    }
  }
  {
    const ArtifactTraffic& traffic = GlobalArtifactTraffic();
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t in = traffic.bytes_in.load(std::memory_order_relaxed);
    uint64_t out = traffic.bytes_out.load(std::memory_order_relaxed);
    artifact_bytes_.Add({{"direction", "in"}})
        .Increment(static_cast<double>(in - artifact_in_seen_));
    artifact_bytes_.Add({{"direction", "out"}})
        .Increment(static_cast<double>(out - artifact_out_seen_));
    artifact_in_seen_ = in;
    artifact_out_seen_ = out;
  }
  leader_.Set(store::WriteFence::role() == store::WriteRole::kStandby ? 0 : 1);
  lease_epoch_.Set(static_cast<double>(store::WriteFence::epoch()));
  const QueueDepth& depth = GlobalQueueDepth();
  queue_depth_.Add({{"reason", "no_matching_agent"}})
      .Set(static_cast<double>(depth.no_matching_agent.load(std::memory_order_relaxed)));
  queue_depth_.Add({{"reason", "agents_offline"}})
      .Set(static_cast<double>(depth.agents_offline.load(std::memory_order_relaxed)));
  queue_depth_.Add({{"reason", "agents_busy"}})
      .Set(static_cast<double>(depth.agents_busy.load(std::memory_order_relaxed)));
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

Handler Metrics::Route() {
  return [this](std::shared_ptr<Exchange> ex) {
    auto answer = [this, ex] {
      Response res{boost::beast::http::status::ok, 11};
      res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4");
      res.body() = Render();
      ex->Respond(std::move(res));
    };
    if (sources_.scheduler == nullptr || sources_.io == nullptr) return answer();
    sources_.scheduler->ListAgents([this, answer](absl::StatusOr<v1::ListAgentsResponse> agents) {
      if (agents.ok()) {
        std::map<std::string, double> by_state;
        for (const char* s : {"idle", "building", "lost", "disabled", "pending", "offline"}) {
          by_state[s] = 0;
        }
        for (const auto& a : agents->agents()) by_state[a.status()] += 1;
        for (const auto& [state, n] : by_state) agents_.Add({{"state", state}}).Set(n);
      }
      boost::asio::post(*sources_.io, answer);
    });
  };
}

}  // namespace gantry::http
