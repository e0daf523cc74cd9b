// Errors of the HTTP API as JSON, with the HTTP status that matches the gRPC
// code (the mapping of google.rpc.Code to HTTP that grpc-gateway uses):
//   {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "..."}}
#pragma once

#include <string>

#include "absl/status/status.h"
#include "controller/http/http_server.h"

namespace gantry::http {

// The HTTP status for a status code: OK 200, INVALID_ARGUMENT 400,
// FAILED_PRECONDITION 400, OUT_OF_RANGE 400, UNAUTHENTICATED 401,
// PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409, ABORTED 409,
// RESOURCE_EXHAUSTED 429, CANCELLED 499, UNIMPLEMENTED 501, UNAVAILABLE 503,
// DEADLINE_EXCEEDED 504, others 500.
unsigned HttpStatusOf(absl::StatusCode code);

// The error body for `status` (which must not be OK).
std::string ErrorJson(const absl::Status& status);
// An error answer for a status, or with an HTTP status and a name of its own
// (404 NOT_FOUND for an unknown path, 413 PAYLOAD_TOO_LARGE...).
Response ErrorResponse(const absl::Status& status);
Response ErrorResponse(unsigned http_status, const std::string& name, const std::string& message);

// A JSON string literal for `s` (quotes included), valid UTF-8 or not.
std::string JsonQuote(std::string_view s);

}  // namespace gantry::http
