// The config parser on arbitrary bytes: it never crashes, hangs or grows
// past its limits, and what it reports is well formed (file:line:col inside
// the input, one line of UTF-8, sorted, at most max_errors of them). The
// input is split into up to three files at "\n---file---\n" markers, so
// cross-file rules (duplicate pipelines, merged environments, references)
// are reached too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config/limits.h"
#include "common/config/parser.h"
#include "common/config/utf8.h"
#include "fuzz/fuzz_check.h"

namespace {

using gantry::config::ConfigError;
using gantry::config::ConfigFile;

// Smaller than the defaults so each input runs in milliseconds, and so the
// limits themselves are reached by small inputs.
gantry::config::Limits FuzzLimits() {
  gantry::config::Limits limits;
  limits.max_total_bytes = 64 << 10;
  limits.max_nodes = 5000;
  limits.max_aliases = 200;
  limits.max_expanded_nodes = 20000;
  limits.max_expanded_bytes = 256 << 10;
  limits.max_depth = 32;
  limits.max_scalar_bytes = 4096;
  limits.max_read_ahead_bytes = 8192;
  limits.max_errors = 50;
  return limits;
}

void CheckResult(const std::vector<ConfigFile>& files, const gantry::config::ParseResult& result,
                 const gantry::config::Limits& limits) {
  FUZZ_CHECK(result.errors.size() <= limits.max_errors, "%zu errors", result.errors.size());
  FUZZ_CHECK(!result.errors.empty() || result.more_errors == 0, "errors counted but none kept");
  for (size_t i = 0; i < result.errors.size(); ++i) {
    const ConfigError& e = result.errors[i];
    bool known_file = false;
    for (const ConfigFile& f : files) known_file = known_file || f.path == e.location.file.str();
    FUZZ_CHECK(known_file, "error in unknown file '%s'", e.location.file.str().c_str());
    FUZZ_CHECK(e.location.line >= 1 && e.location.column >= 1, "position %d:%d", e.location.line,
               e.location.column);
    FUZZ_CHECK(!e.message.empty(), "empty message");
    FUZZ_CHECK(e.message.find('\n') == std::string::npos, "multi-line message: %s",
               e.message.c_str());
    FUZZ_CHECK(!gantry::config::FindInvalidUtf8(e.message), "message not UTF-8: %s",
               e.message.c_str());
    FUZZ_CHECK(e.message.size() <= 1100, "message of %zu bytes", e.message.size());
    if (i > 0) {
      const auto& a = result.errors[i - 1].location;
      const auto& b = e.location;
      FUZZ_CHECK(std::tie(a.file, a.line, a.column) <= std::tie(b.file, b.line, b.column),
                 "errors not sorted");
    }
  }
  if (result.ok()) {
    // A valid config names what the validator promised exists.
    for (const auto& p : result.config.pipelines) {
      FUZZ_CHECK(!p.stages.empty(), "pipeline '%s' without stages", p.name.c_str());
      for (const auto& s : p.stages) {
        FUZZ_CHECK(!s.jobs.empty(), "stage '%s' without jobs", s.name.c_str());
        for (const auto& j : s.jobs) {
          FUZZ_CHECK(!j.tasks.empty(), "job '%s' without tasks", j.name.c_str());
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<ConfigFile> files;
  for (absl::string_view part : absl::StrSplit(input, "\n---file---\n")) {
    if (files.size() == 3) break;
    files.push_back({absl::StrCat("f", files.size(), ".yaml"), std::string(part)});
  }
  gantry::config::Limits limits = FuzzLimits();
  gantry::config::ParseResult result = gantry::config::ParseConfig(files, limits);
  CheckResult(files, result, limits);
  // The same input gives the same answer.
  gantry::config::ParseResult again = gantry::config::ParseConfig(files, limits);
  FUZZ_CHECK(again.ErrorText() == result.ErrorText(), "two parses differ");
  return 0;
}
