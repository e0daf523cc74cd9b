// The HTTP listener calls the operator service over an in-process gRPC
// channel, so the call's own peer is "inproc". It passes the browser's or
// script's address in this metadata key; the operator service takes it (for
// the audit log's source) only from in-process calls, which nobody outside
// the controller can make.
#pragma once

namespace gantry {

inline constexpr char kForwardedPeerMetadata[] = "x-gantry-http-peer";

}  // namespace gantry
