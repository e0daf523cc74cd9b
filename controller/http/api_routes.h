// The JSON API (docs/api.md): one route per operator RPC, each answered by
// calling the operator service itself over an in-process gRPC channel with
// the caller's token. Authentication, the permission check, the audit row
// and the handler are therefore the very code gRPC callers go through
// (controller/rpc/operator_service.cc); this file only maps URLs and JSON
// bodies onto requests and statuses onto HTTP.
//
// A request message is filled from, in order: the JSON body (POST, DELETE),
// the query parameters, then the path's {parts}; each names a field of the
// request ("counter", "stageCounter" or "stage_counter"). "latest" is
// counter 0 (the newest run).
#pragma once

#include <memory>

#include "controller/http/http_server.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::http {

struct ApiOptions {
  // Cookies get the Secure attribute (behind TLS).
  bool secure_cookies = false;
};

void AddApiRoutes(Router& router, std::shared_ptr<v1::OperatorService::Stub> stub,
                  ApiOptions options);

}  // namespace gantry::http
