// Results of a bench run: one `name value unit` line per figure on stdout,
// and the same figures (with the command line and settings) as a JSON file.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace gantry::bench {

struct Figure {
  std::string name;   // "latency.trigger_to_assign.p50"
  double value = 0;
  std::string unit;   // "ms", "jobs/s", "KiB", ...
  std::string note;   // free text (target, caveat); JSON only
};

class Report {
 public:
  // Prints the line at once and keeps the figure for the JSON file.
  void Add(const std::string& name, double value, const std::string& unit,
           const std::string& note = "");
  // Free-form context written to the JSON file ("pg.fsync": "on", ...).
  void Set(const std::string& key, const std::string& value);
  // Adds NAME.p50/.p90/.p99/.max/.mean (in ms) for `samples`; nothing for none.
  void AddLatencies(const std::string& name, std::vector<absl::Duration> samples);

  bool WriteJson(const std::string& path) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<Figure> figures_;
  std::map<std::string, std::string> context_;
};

// The q-quantile (0..1) of `sorted` by the nearest-rank method.
absl::Duration Quantile(const std::vector<absl::Duration>& sorted, double q);

// Wall clock and CPU usage of the calling process.
double ProcessCpuSeconds();

}  // namespace gantry::bench
