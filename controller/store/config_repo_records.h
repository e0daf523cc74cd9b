// Rows of config repositories' states (tx_config_repos.cc, migration 0018).
#pragma once

#include <cstdint>
#include <string>

namespace gantry::store {

struct ConfigRepoStateRecord {
  std::string id;
  std::string source;  // digest of URL, branch and pattern
  std::string last_seen;
  std::string last_good;
  std::string files_hash;
  std::string errors;  // "file:line:col: message" lines
  std::string fetch_error;
  int64_t updated_at = 0;  // Unix ms; set when read
};

// Where a config revision came from: a config repo's commit, or "" / "" for
// `config apply`.
struct ConfigRevisionSource {
  std::string config_repo;
  std::string commit;
};

}  // namespace gantry::store
