// Rows of git materials (tx_materials.cc, migration 0013).
#pragma once

#include <cstdint>
#include <string>

namespace gantry::store {

// One commit in a build cause.
struct MaterialCommitRecord {
  std::string sha;
  std::string author;
  std::string message;
  int64_t committed_at = 0;  // Unix seconds
};

// The revision the newest run of `pipeline` built of its git `material`.
struct LastGitRevisionRecord {
  std::string pipeline;
  std::string material;
  std::string revision;
};

}  // namespace gantry::store
