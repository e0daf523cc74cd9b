// What one ParseConfig call accepts. YAML aliases let a few hundred bytes
// stand for billions of nodes, and the parser, the model and the error list all
// grow with what is read, so every dimension an input can inflate has a cap.
// Together they bound a parse's memory (docs/config.md, "Limits"): under
// 100 MB for any input, however hostile.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gantry::config {

struct Limits {
  // All files of one configuration together, in bytes. The controller's and
  // the CLI's gRPC message limits are set from this (kMaxConfigMessageBytes).
  size_t max_total_bytes = 8 << 20;
  // YAML nodes as written (every key, value and collection), all files.
  size_t max_nodes = 300'000;
  // Alias uses (`*name`, also in merge keys `<<: *name`), all files.
  size_t max_aliases = 10'000;
  // Nodes and scalar bytes with every alias replaced by what it names: what
  // the reader walks and the model holds.
  size_t max_expanded_nodes = 300'000;
  size_t max_expanded_bytes = 8 << 20;
  // Collections inside collections, through aliases too.
  int max_depth = 64;
  // One scalar (key or value), in bytes.
  size_t max_scalar_bytes = 64 << 10;
  // How far the YAML parser may read past the last node it reported. It
  // reads a flow collection that might be a key to its end before reporting
  // anything, holding about 140 bytes per byte read.
  size_t max_read_ahead_bytes = 128 << 10;
  // Errors kept: the first ones by file, line and column; the rest are
  // counted ("and N more").
  size_t max_errors = 1000;
};

// Room for the request framing and file paths around the config's own bytes.
inline constexpr int64_t kMaxConfigMessageBytes = (8 << 20) + (1 << 20);

}  // namespace gantry::config
