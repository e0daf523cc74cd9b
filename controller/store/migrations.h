// Schema migrations: numbered SQL files (migrations/NNNN_name.sql) compiled
// into the binary and applied in order at start-up.
#pragma once

#include <string>
#include <vector>

namespace gantry::store {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Every migration this binary knows, in version order.
const std::vector<Migration>& AllMigrations();

}  // namespace gantry::store
