// Controller-to-agent messages built in more than one place.
#pragma once

#include <cstdint>
#include <string>

#include "gantry/v1/agent.pb.h"

namespace gantry {

inline v1::ControllerMessage CancelMessage(int64_t attempt_id, const std::string& reason) {
  v1::ControllerMessage m;
  m.mutable_cancel()->set_attempt_id(attempt_id);
  m.mutable_cancel()->set_reason(reason);
  return m;
}

inline v1::ControllerMessage AbandonMessage(int64_t attempt_id) {
  v1::ControllerMessage m;
  m.mutable_abandon()->set_attempt_id(attempt_id);
  m.mutable_abandon()->set_reason("the attempt is no longer this agent's");
  return m;
}

}  // namespace gantry
