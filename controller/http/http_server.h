// The controller's HTTP listener (--http-listen): the JSON API, live events
// (Server-Sent Events), the dashboard and /metrics, on Boost.Beast.
//
// Everything is asynchronous on one io_context run by a few threads (one by
// default): a connection costs a socket and a few buffers, never a thread, so
// a thousand open event streams are a thousand sockets. Handlers never touch
// the database or the scheduler themselves: they hand the request on (to the
// operator service through an in-process gRPC channel, to the read pool) and
// answer from that call's callback, on whatever thread it runs, through
// Exchange::Respond, which posts the write back to the connection.
//
//   HttpServer (accept) -> Session (one connection: read, route, write)
//     -> Router (method + path pattern -> Handler) -> Exchange (one request)
//
// TLS: with HttpServerOptions::tls set (the controller's own certificate,
// controller/http/http_tls.h), every connection is a beast::ssl_stream and
// starts with a handshake; the session code is one template over the
// stream type, so plain and TLS connections share it.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gantry::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Verb = boost::beast::http::verb;

class Session;
template <typename Stream>
class StreamSession;

// An open Server-Sent Events stream. Send may be called from any thread;
// events are queued and written in order. A client that reads too slowly
// (more than kMaxQueuedBytes waiting) is disconnected: EventSource reconnects
// and reloads, which is cheaper than holding unbounded memory for it.
class EventStream {
 public:
  static constexpr size_t kMaxQueuedBytes = 4 << 20;
  virtual ~EventStream() = default;
  // `event` names the event ("run"); `data` must be one line (compact JSON).
  virtual void Send(std::string_view event, std::string_view data) = 0;
  // A comment line, to keep proxies and the client's idea of the
  // connection alive.
  virtual void Ping() = 0;
  virtual void Close() = 0;
  virtual bool closed() const = 0;
};

// One request and the way to answer it. Respond exactly once, from any
// thread; or turn the connection into an event stream with StartEvents.
class Exchange {
 public:
  Exchange(std::shared_ptr<Session> session, Request request, std::string peer);

  const Request& request() const { return request_; }
  Verb method() const { return request_.method(); }
  // The path without the query string, %-decoded per segment by the router.
  std::string_view path() const;
  // A query parameter ("" when absent); `has` tells an empty one from none.
  std::string Query(std::string_view name, bool* has = nullptr) const;
  // Every query parameter, in order.
  std::vector<std::pair<std::string, std::string>> QueryParams() const;
  // The request header `name` ("" when absent).
  std::string Header(std::string_view name) const;
  // The cookie `name` ("" when absent).
  std::string Cookie(std::string_view name) const;
  // The client's address, "ip:port".
  const std::string& peer() const { return peer_; }
  // The path's {name} parts, filled by the router.
  std::map<std::string, std::string>& params() { return params_; }
  const std::map<std::string, std::string>& params() const { return params_; }

  void Respond(Response response);
  // A JSON body with `status`.
  void RespondJson(unsigned status, std::string json);
  // Writes the event stream's headers and hands back the stream.
  std::shared_ptr<EventStream> StartEvents();

 private:
  std::shared_ptr<Session> session_;
  Request request_;
  std::string peer_;
  std::map<std::string, std::string> params_;
  std::atomic<bool> answered_{false};
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

// Method + path pattern ("/api/v1/pipelines/{pipeline}/runs/{counter}") to a
// handler. Routes are added before the server starts; other parts of the
// controller (a webhook receiver, say) add their own the same way.
class Router {
 public:
  void Add(Verb method, std::string pattern, Handler handler);
  // Routes `ex` (404 / 405 as JSON when nothing matches).
  void Dispatch(const std::shared_ptr<Exchange>& ex) const;
  // The pattern that matched (for metrics labels), or "" if none.
  std::string PatternOf(Verb method, std::string_view path) const;

 private:
  struct Route {
    Verb method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" is a parameter
    Handler handler;
  };
  const Route* Match(Verb method, std::string_view path, std::map<std::string, std::string>* params,
                     bool* path_known) const;
  std::vector<Route> routes_;
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8153";
  int threads = 1;
  // Largest request body (a config apply is the biggest).
  size_t max_body_bytes = 16 << 20;
  // Connections open at most; past it new ones are closed at once.
  size_t max_connections = 20000;
  // A connection idle this long between requests is closed (not streams).
  absl::Duration idle_timeout = absl::Seconds(60);
  // HTTPS with this context (see the file comment); null means plain HTTP.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class HttpServer {
 public:
  // Called for every answered request: method, matched pattern (or ""),
  // status. For metrics; runs on the I/O thread, must be quick.
  using RequestObserver = std::function<void(Verb, const std::string&, unsigned)>;

  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();

  Router& router() { return router_; }
  boost::asio::io_context& io() { return io_; }
  void set_request_observer(RequestObserver fn) { observer_ = std::move(fn); }

  // Binds and starts the I/O threads; the port bound (for port 0).
  absl::StatusOr<int> Start();
  // Closes the listener and every connection, and joins the threads.
  void Stop();
  size_t connections() const { return connections_.load(); }

 private:
  friend class Session;
  template <typename Stream>
  friend class StreamSession;
  void Accept();

  HttpServerOptions options_;
  Router router_;
  RequestObserver observer_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::vector<std::thread> threads_;
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  // Live sessions, so Stop can close streams that never end by themselves.
  std::mutex sessions_mu_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

// "%41b" -> "Ab"; "+" stays "+" (paths), or is a space (`form`, queries).
std::string UrlDecode(std::string_view s, bool form);

}  // namespace gantry::http
