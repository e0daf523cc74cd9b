// A real Scheduler for fuzz targets, once per process: a private PostgreSQL
// (non-durable, under /tmp, stopped at exit; one left by a crashed run is
// stopped by the next), a migrated database, a FakeClock and a config with
// a few pipelines applied (kConfig in the .cc). The blocking wrappers give
// up after 30 s, so a strand that stopped answering fails the input instead
// of hanging it.
//
// The controller logs only errors here (set GANTRY_FUZZ_LOG=info to see
// everything); errors are also kept for the target to check, because with a
// healthy database no agent input should make the controller log one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/scheduling/fake_clock.h"
#include "controller/scheduling/scheduler.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"

namespace gantry::fuzz {

class SchedulerFixture {
 public:
  // Agents silent this long are lost; ticks come every second.
  static constexpr absl::Duration kLostTimeout = absl::Seconds(4);
  static constexpr absl::Duration kTick = absl::Seconds(1);
  // Small, so that a short input can reach the console cap and the inbox
  // limit (backpressure).
  static constexpr int64_t kMaxConsoleBytes = 4096;
  static constexpr size_t kMaxInboxBytes = 16 << 10;
  // Pipelines of kConfig and their stages, in order.
  static const std::vector<std::pair<std::string, std::vector<std::string>>>& Pipelines();

  // The process's fixture, started on first use; aborts if it cannot start.
  static SchedulerFixture& Get();
  ~SchedulerFixture();

  Scheduler& scheduler() { return *scheduler_; }
  FakeClock& clock() { return clock_; }

  absl::StatusOr<v1::RegisterResponse> Register(const std::string& name);
  absl::StatusOr<v1::PipelineRun> Trigger(const std::string& pipeline);
  absl::StatusOr<v1::PipelineRun> CancelStage(const std::string& pipeline, int64_t counter,
                                              const std::string& stage);
  absl::StatusOr<v1::Agent> DeleteAgent(const std::string& id);
  absl::StatusOr<v1::ListAgentsResponse> ListAgents();

  // Runs `sql` on the fixture's own connection; each row's columns as text.
  std::vector<std::vector<std::string>> Query(const std::string& sql);
  // Errors the controller logged since the last call.
  std::vector<std::string> TakeLoggedErrors();

 private:
  struct Pg;
  SchedulerFixture() = default;
  void Start();

  std::unique_ptr<Pg> pg_;
  FakeClock clock_;
  ConfigCache configs_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace gantry::fuzz
