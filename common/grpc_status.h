// absl::Status <-> grpc::Status, used at every gRPC edge.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gantry {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gantry
