// Helpers shared by the CLI tests: temp dirs, env maps, running the CLI.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "cli/app.h"
#include "common/files.h"

namespace gantry::cli::testing {

// A fresh empty directory under the test temp dir.
inline std::string MakeTempDir() {
  std::string pattern = std::string(std::getenv("TEST_TMPDIR") != nullptr
                                        ? std::getenv("TEST_TMPDIR")
                                        : "/tmp") +
                        "/gantry_cli_test.XXXXXX";
  char* dir = mkdtemp(pattern.data());
  return dir != nullptr ? std::string(dir) : std::string("/tmp");
}

inline EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  std::vector<std::string> ErrLines() const {
    return absl::StrSplit(err, '\n', absl::SkipEmpty());
  }
};

// Runs the CLI with an environment that points the data dir at an empty
// directory, so the developer's own environment never leaks in.
inline CliResult RunGantry(const std::vector<std::string>& args,
                           CliOptions options = CliOptions()) {
  static const std::string* empty_dir = new std::string(MakeTempDir());
  if (!options.env("GANTRY_DATA_DIR").has_value()) {
    options.env = MapEnv({{"GANTRY_DATA_DIR", *empty_dir}});
  }
  std::ostringstream out, err;
  CliResult result;
  result.exit_code = RunCli(args, out, err, options);
  result.out = out.str();
  result.err = err.str();
  return result;
}

}  // namespace gantry::cli::testing
