#include "tests/bench/report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gantry::bench {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

}  // namespace

absl::Duration Quantile(const std::vector<absl::Duration>& sorted, double q) {
  if (sorted.empty()) return absl::ZeroDuration();
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  if (rank == 0) rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

void Report::Add(const std::string& name, double value, const std::string& unit,
                 const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  figures_.push_back({name, value, unit, note});
  std::printf("%s %s %s\n", name.c_str(), absl::StrFormat("%.6g", value).c_str(),
              unit.c_str());
  std::fflush(stdout);
}

void Report::Set(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  context_[key] = value;
}

void Report::AddLatencies(const std::string& name, std::vector<absl::Duration> samples) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  absl::Duration sum;
  for (auto d : samples) sum += d;
  auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  Add(name + ".p50", ms(Quantile(samples, 0.50)), "ms");
  Add(name + ".p90", ms(Quantile(samples, 0.90)), "ms");
  Add(name + ".p99", ms(Quantile(samples, 0.99)), "ms");
  Add(name + ".max", ms(samples.back()), "ms");
  Add(name + ".mean", ms(sum / static_cast<int64_t>(samples.size())), "ms");
}

size_t Report::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return figures_.size();
}

bool Report::WriteJson(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "{\n  \"context\": {";
  bool first = true;
  for (const auto& [k, v] : context_) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    ", JsonString(k), ": ", JsonString(v));
    first = false;
  }
  out += "\n  },\n  \"figures\": [";
  first = true;
  for (const auto& f : figures_) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    {\"name\": ", JsonString(f.name),
                    ", \"value\": ", JsonNumber(f.value), ", \"unit\": ", JsonString(f.unit));
    if (!f.note.empty()) absl::StrAppend(&out, ", \"note\": ", JsonString(f.note));
    out += "}";
    first = false;
  }
  out += "\n  ]\n}\n";
  std::ofstream file(path, std::ios::trunc);
  file << out;
  file.close();
  return static_cast<bool>(file);
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace gantry::bench
