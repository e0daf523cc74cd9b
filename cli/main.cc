// The `gantry` binary: see docs/cli.md.
#include <grpc/support/log.h>

#include <cstdlib>
#include <iostream>

#include "cli/app.h"

namespace {

// gRPC's own log lines would break the one-line error contract; the RPC
// status already carries what went wrong. GANTRY_DEBUG=1 keeps them.
void DiscardGrpcLog(gpr_log_func_args*) {}

}  // namespace

int main(int argc, char** argv) {
  const char* debug = std::getenv("GANTRY_DEBUG");
  if (debug == nullptr || *debug == '\0' || std::string(debug) == "0") {
    gpr_set_log_function(DiscardGrpcLog);
  }
  return gantry::cli::RunCli(argc, argv, std::cout, std::cerr);
}
