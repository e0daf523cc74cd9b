// Pipeline timers: the last tick each timer took into account, so that a
// tick missed while the controller was down fires once at start-up
// (migration 0017, controller/scheduling/timer_schedule.h).
#include <pqxx/pqxx>

#include "controller/store/tx.h"

namespace gantry::store {

std::vector<TimerStateRecord> Tx::TimerStates() {
  std::vector<TimerStateRecord> out;
  auto rows = work_.exec(
      "SELECT pipeline, spec, (extract(epoch FROM last_tick_at) * 1000)::bigint "
      "FROM pipeline_timers ORDER BY pipeline");
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
  }
  return out;
}

void Tx::SetTimerState(const TimerStateRecord& state) {
  work_.exec_params(
      "INSERT INTO pipeline_timers (pipeline, spec, last_tick_at) "
      "VALUES ($1, $2, to_timestamp($3::double precision / 1000)) "
      "ON CONFLICT (pipeline) DO UPDATE SET spec = EXCLUDED.spec, "
      "last_tick_at = EXCLUDED.last_tick_at",
      state.pipeline, state.spec, state.last_tick_ms);
}

void Tx::DeleteTimerState(const std::string& pipeline) {
  work_.exec_params("DELETE FROM pipeline_timers WHERE pipeline = $1", pipeline);
}

}  // namespace gantry::store
