// The leader lease's row (tx_lease.cc, migration 0019,
// controller/leader/leader_lease.h).
#pragma once

#include <cstdint>
#include <string>

namespace gantry::store {

struct LeaseRecord {
  int64_t epoch = 0;
  std::string holder_id;
  std::string holder_instance;
  std::string holder_address;
  // Whether the lease has run out by the database's clock.
  bool expired = true;
};

}  // namespace gantry::store
