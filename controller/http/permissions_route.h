// GET /api/v1/permissions: what the caller may do with each pipeline it may
// view, so the dashboard shows only the actions that would be allowed:
//   {"user": "alice", "admin": false,
//    "pipelines": {"a": {"operate": true, "trigger": true}, ...}}
// Decided by the same Authorizer checks the operator service runs (the
// controller checks again on every action; this only hides buttons).
#pragma once

#include "controller/auth.h"
#include "controller/authz.h"
#include "controller/http/http_server.h"

namespace gantry::http {

Handler PermissionsRoute(const TokenRegistry* tokens, const Authorizer* authz);

}  // namespace gantry::http
