// Counts finished gRPC calls by method and status code, for /metrics
// (gantry_grpc_requests_total). A server interceptor installed by main when
// it builds the gRPC server, before the HTTP side exists: the counts are
// process-wide and read when scraped.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gantry::http {

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
GrpcCountingInterceptors();

// (method, status code) -> calls finished so far.
std::map<std::pair<std::string, int>, int64_t> GrpcCallCounts();

}  // namespace gantry::http
