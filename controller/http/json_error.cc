#include "controller/http/json_error.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gantry::http {

unsigned HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // Control characters and bytes outside ASCII are escaped one by one,
        // so the body is valid JSON whatever the message holds.
        if (c < 0x20 || c >= 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

namespace {

std::string Body(unsigned http_status, std::string_view name, std::string_view message) {
  return absl::StrCat("{\"error\":{\"code\":", http_status, ",\"status\":", JsonQuote(name),
                      ",\"message\":", JsonQuote(message), "}}");
}

}  // namespace

std::string ErrorJson(const absl::Status& status) {
  return Body(HttpStatusOf(status.code()), absl::StatusCodeToString(status.code()),
              std::string(status.message()));
}

Response ErrorResponse(unsigned http_status, const std::string& name, const std::string& message) {
  Response res{static_cast<boost::beast::http::status>(http_status), 11};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.set(boost::beast::http::field::cache_control, "no-store");
  res.body() = Body(http_status, name, message);
  return res;
}

Response ErrorResponse(const absl::Status& status) {
  return ErrorResponse(HttpStatusOf(status.code()), absl::StatusCodeToString(status.code()),
                       std::string(status.message()));
}

}  // namespace gantry::http
