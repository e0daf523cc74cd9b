#include "tests/e2e/http_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry::e2e {
namespace {

absl::StatusOr<int> Connect(const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", address));
  }
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  int rc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  return fd;
}

absl::Status SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError("send failed");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads more into `buffer`; false at end of stream or past `deadline`.
absl::Status ReadMore(int fd, std::string& buffer, absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("timed out");
  pollfd p{fd, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
  if (rc == 0) return absl::DeadlineExceededError("timed out");
  char chunk[16384];
  ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
  if (n <= 0) return absl::UnavailableError("connection closed");
  buffer.append(chunk, static_cast<size_t>(n));
  return absl::OkStatus();
}

std::string RequestText(const std::string& address, const std::string& method,
                        const std::string& target, const std::string& body,
                        const std::vector<std::string>& headers, bool close) {
  std::string req = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: ", address, "\r\n");
  for (const auto& h : headers) absl::StrAppend(&req, h, "\r\n");
  if (!body.empty() || method == "POST" || method == "DELETE") {
    absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
  }
  if (close) absl::StrAppend(&req, "Connection: close\r\n");
  absl::StrAppend(&req, "\r\n", body);
  return req;
}

// Parses the status line and headers in `head`.
void ParseHead(const std::string& head, HttpResponse& out) {
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  if (!lines.empty()) {
    std::vector<std::string> parts = absl::StrSplit(lines[0], ' ');
    if (parts.size() >= 2) (void)absl::SimpleAtoi(parts[1], &out.status);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    auto& slot = out.headers[name];
    slot = slot.empty() ? value : absl::StrCat(slot, "\n", value);
  }
}

}  // namespace

std::string HttpResponse::ToString() const { return absl::StrCat(status, " ", body); }

absl::StatusOr<HttpResponse> HttpRequest(const std::string& address, const std::string& method,
                                         const std::string& target, const std::string& body,
                                         const std::vector<std::string>& headers,
                                         absl::Duration timeout) {
  auto fd = Connect(address);
  if (!fd.ok()) return fd.status();
  absl::Time deadline = absl::Now() + timeout;
  std::string buffer;
  absl::Status st = SendAll(*fd, RequestText(address, method, target, body, headers, true));
  while (st.ok()) {
    st = ReadMore(*fd, buffer, deadline);
  }
  ::close(*fd);
  if (absl::IsDeadlineExceeded(st)) return st;
  size_t end = buffer.find("\r\n\r\n");
  if (end == std::string::npos) return absl::UnavailableError("no HTTP response");
  HttpResponse out;
  ParseHead(buffer.substr(0, end), out);
  out.body = buffer.substr(end + 4);
  return out;
}

SseClient::~SseClient() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<SseClient>> SseClient::Open(
    const std::string& address, const std::string& target,
    const std::vector<std::string>& headers) {
  auto fd = Connect(address);
  if (!fd.ok()) return fd.status();
  auto client = std::unique_ptr<SseClient>(new SseClient());
  client->fd_ = *fd;
  std::vector<std::string> h = headers;
  h.push_back("Accept: text/event-stream");
  if (auto st = SendAll(*fd, RequestText(address, "GET", target, "", h, false)); !st.ok()) {
    return st;
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  size_t end;
  while ((end = client->buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (auto st = ReadMore(*fd, client->buffer_, deadline); !st.ok()) {
      if (client->buffer_.empty()) return st;
      break;
    }
  }
  HttpResponse head;
  ParseHead(client->buffer_.substr(0, end), head);
  client->status_ = head.status;
  client->buffer_.erase(0, end == std::string::npos ? client->buffer_.size() : end + 4);
  return client;
}

absl::StatusOr<SseEvent> SseClient::Next(absl::Time deadline) {
  while (true) {
    size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      SseEvent ev;
      for (absl::string_view line : absl::StrSplit(block, '\n')) {
        if (absl::ConsumePrefix(&line, "event: ")) ev.event = std::string(line);
        if (absl::ConsumePrefix(&line, "data: ")) ev.data = std::string(line);
      }
      if (!ev.event.empty()) return ev;  // comments and `retry:` are skipped
    }
    if (auto st = ReadMore(fd_, buffer_, deadline); !st.ok()) return st;
  }
}

}  // namespace gantry::e2e
