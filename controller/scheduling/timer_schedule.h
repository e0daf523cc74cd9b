// When pipeline timers fire (GoCD's `timer: {spec: ...}`, docs/config.md).
// Pure bookkeeping, no I/O: the scheduler (scheduler_timers.cc) asks it at
// each tick of its clock which timers are due, persists what it says to
// persist, and triggers.
//
// Each timer keeps the last tick it took into account: when it last fired,
// or when the timer (or its spec) was first seen, so a new timer never
// fires for ticks before it existed. A timer is due when its spec has a
// time after that and not after now; it fires once however many ticks
// passed (a controller down over several ticks runs it once at start-up),
// and counts from now.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/config/cron.h"
#include "common/config/model.h"
#include "controller/store/timer_records.h"

namespace gantry {

class TimerSchedule {
 public:
  explicit TimerSchedule(absl::TimeZone zone) : zone_(zone) {}

  // What was persisted (store::Tx::TimerStates), read at `now` (start-up):
  // ticks before now that these rows had not taken are reported as missed.
  void Load(const std::vector<store::TimerStateRecord>& states, absl::Time now);

  struct Due {
    std::string pipeline;
    std::string spec;
    bool only_on_changes = false;
    absl::Time tick;      // the first matching time since the last one taken
    bool missed = false;  // it passed while the controller was down
  };
  struct Taken {
    std::vector<Due> due;
    // Rows to write (timers new, changed or fired) and pipelines whose row
    // goes (their timer is gone from the config).
    std::vector<store::TimerStateRecord> save;
    std::vector<std::string> drop;
  };
  // The timers of `config` due at `now`; each is counted as fired.
  Taken Take(const config::Config& config, absl::Time now);

 private:
  struct State {
    std::string spec;
    absl::Time last_tick;
    bool loaded = false;  // from the database, not yet looked at
  };
  const config::CronSpec* Parsed(const std::string& spec);

  absl::TimeZone zone_;
  absl::Time loaded_at_ = absl::InfinitePast();
  std::map<std::string, State> states_;             // by pipeline
  std::map<std::string, config::CronSpec> parsed_;  // by spec text
};

// The build cause message of a timer's run: "timer '0 0 22 ? * MON-FRI'",
// and for a missed tick when it was.
std::string TimerCauseMessage(const TimerSchedule::Due& due, absl::TimeZone zone);

}  // namespace gantry
