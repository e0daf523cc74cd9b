#include "controller/scheduling/timer_schedule.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace gantry {

void TimerSchedule::Load(const std::vector<store::TimerStateRecord>& states, absl::Time now) {
  loaded_at_ = now;
  states_.clear();
  for (const auto& s : states) {
    states_[s.pipeline] = {s.spec, absl::FromUnixMillis(s.last_tick_ms), /*loaded=*/true};
  }
}

const config::CronSpec* TimerSchedule::Parsed(const std::string& spec) {
  auto it = parsed_.find(spec);
  if (it != parsed_.end()) return &it->second;
  absl::StatusOr<config::CronSpec> cron = config::CronSpec::Parse(spec);
  if (!cron.ok()) {
    // The config checker refuses such a spec: only an old stored config
    // could carry one.
    spdlog::warn("timer spec '{}' is invalid: {}", spec, std::string(cron.status().message()));
    return nullptr;
  }
  return &parsed_.emplace(spec, std::move(*cron)).first->second;
}

TimerSchedule::Taken TimerSchedule::Take(const config::Config& config, absl::Time now) {
  Taken out;
  std::map<std::string, State> next_states;
  for (const config::Pipeline& p : config.pipelines) {
    if (p.timer.spec.empty()) continue;
    auto it = states_.find(p.name);
    if (it == states_.end() || it->second.spec != p.timer.spec) {
      // New, or a new spec: counted from now, so a spec edited to a time
      // already past today does not fire at once.
      State fresh{p.timer.spec, now, false};
      out.save.push_back({p.name, fresh.spec, absl::ToUnixMillis(now)});
      next_states.emplace(p.name, fresh);
      continue;
    }
    State state = it->second;
    const config::CronSpec* cron = Parsed(state.spec);
    std::optional<absl::Time> next = cron ? cron->Next(state.last_tick, zone_) : std::nullopt;
    if (next && *next <= now) {
      bool missed = state.loaded && *next < loaded_at_;
      out.due.push_back({p.name, state.spec, p.timer.only_on_changes, *next, missed});
      state.last_tick = now;
      out.save.push_back({p.name, state.spec, absl::ToUnixMillis(now)});
    }
    state.loaded = false;
    next_states.emplace(p.name, state);
  }
  for (const auto& [pipeline, state] : states_) {
    if (next_states.count(pipeline) == 0) out.drop.push_back(pipeline);
  }
  states_ = std::move(next_states);
  return out;
}

std::string TimerCauseMessage(const TimerSchedule::Due& due, absl::TimeZone zone) {
  std::string text = absl::StrCat("timer '", due.spec, "'");
  if (due.missed) {
    absl::StrAppend(&text, " (its tick at ",
                    absl::FormatTime("%Y-%m-%d %H:%M:%S %z", due.tick, zone),
                    " passed while the controller was down)");
  }
  return text;
}

}  // namespace gantry
