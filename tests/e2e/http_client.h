// A small HTTP/1.1 client for the e2e suites of the controller's HTTP
// listener: plain POSIX sockets, one request per connection, and a reader
// of Server-Sent Events with a deadline on every wait.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::e2e {

struct HttpResponse {
  int status = 0;
  // Lower-cased names; Set-Cookie values joined by "\n".
  std::map<std::string, std::string> headers;
  std::string body;
  std::string ToString() const;  // "403 {...}" for assertion messages
};

// `address` is "host:port"; `headers` are "Name: value" lines.
absl::StatusOr<HttpResponse> HttpRequest(const std::string& address, const std::string& method,
                                         const std::string& target, const std::string& body = "",
                                         const std::vector<std::string>& headers = {},
                                         absl::Duration timeout = absl::Seconds(60));

struct SseEvent {
  std::string event;
  std::string data;
};

// An open GET of an event stream.
class SseClient {
 public:
  ~SseClient();
  static absl::StatusOr<std::unique_ptr<SseClient>> Open(const std::string& address,
                                                         const std::string& target,
                                                         const std::vector<std::string>& headers);
  int status() const { return status_; }
  // The next event, waiting until `deadline`; DEADLINE_EXCEEDED or
  // UNAVAILABLE (closed) otherwise.
  absl::StatusOr<SseEvent> Next(absl::Time deadline);

 private:
  int fd_ = -1;
  int status_ = 0;
  std::string buffer_;
};

}  // namespace gantry::e2e
