// The `gantry` command line: parses arguments with CLI11 and runs one
// command. Everything the binary does goes through RunCli, so tests drive it
// in-process with string streams.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace gantry::cli {

// Runs `gantry` with argv[0] the program name. Output goes to `out`, errors
// to `err` (one `gantry: <message>` line; config errors one per line).
// Returns the exit status: 0 ok, 1 failure, 2 usage error, 3 `--wait`
// stopped at a manual gate.
int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

// The same with the arguments after the program name and test knobs.
int RunCli(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err, const CliOptions& options = CliOptions());

}  // namespace gantry::cli
