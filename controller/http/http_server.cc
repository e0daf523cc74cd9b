#include "controller/http/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <optional>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "controller/http/json_error.h"

namespace gantry::http {
namespace {

// This Abseil has its own string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A connection, plain or TLS: what Exchange and HttpServer need of it.
class Session : public std::enable_shared_from_this<Session>, public EventStream {
 public:
  virtual void Start() = 0;
  virtual void Respond(Response res) = 0;
  virtual void BeginEvents() = 0;
};

// One connection: reads requests one at a time, routes each, writes its
// answer, and reads the next (keep-alive). After StartEvents it is an event
// stream: it writes queued events and only reads to notice the client going.
template <typename Stream>
class StreamSession final : public Session {
 public:
  // `args` after the socket construct the stream (an ssl::context for TLS).
  template <typename... Args>
  StreamSession(tcp::socket socket, HttpServer* server, Args&... args)
      : stream_(std::move(socket), args...), server_(server) {
    beast::error_code ec;
    auto ep = socket_().remote_endpoint(ec);
    peer_ = ec ? "unknown" : absl::StrCat(ep.address().to_string(), ":", ep.port());
  }
  ~StreamSession() override { --server_->connections_; }

  void Start() override {
    net::dispatch(stream_.get_executor(), [self = self()] {
      if constexpr (kTls) {
        // The handshake has the idle timeout too: a client that connects
        // and says nothing is closed like an idle one.
        self->lowest().expires_after(absl::ToChronoSeconds(self->server_->options_.idle_timeout));
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->Shutdown();
          self->Read();
        });
      } else {
        self->Read();
      }
    });
  }

  void Respond(Response res) override {
    net::post(stream_.get_executor(),
              [self = self(), res = std::move(res)]() mutable { self->Write(std::move(res)); });
  }

  void BeginEvents() override {
    net::post(stream_.get_executor(), [self = self()] {
      self->streaming_ = true;
      self->lowest().expires_never();
      self->queue_.push_back(
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
          "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n"
          // The client waits this long before reconnecting after a drop.
          "retry: 2000\n\n");
      self->queued_bytes_ += self->queue_.back().size();
      self->observe(200);
      self->WriteNext();
      self->WatchForClose();
    });
  }

  // EventStream
  void Send(std::string_view event, std::string_view data) override {
    Enqueue(absl::StrCat("event: ", AV(event), "\ndata: ", AV(data), "\n\n"));
  }
  void Ping() override { Enqueue(": ping\n\n"); }
  void Close() override {
    net::post(stream_.get_executor(), [self = self()] { self->Shutdown(); });
  }
  bool closed() const override { return closed_.load(); }

  void set_pattern(std::string p) { pattern_ = std::move(p); }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  std::shared_ptr<StreamSession> self() {
    return std::static_pointer_cast<StreamSession>(shared_from_this());
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  tcp::socket& socket_() { return beast::get_lowest_layer(stream_).socket(); }

  void Read() {
    parser_.emplace();
    parser_->header_limit(16 << 10);
    parser_->body_limit(server_->options_.max_body_bytes);
    lowest().expires_after(absl::ToChronoSeconds(server_->options_.idle_timeout));
    beast::http::async_read(stream_, buffer_, *parser_,
                            [self = self()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == beast::http::error::body_limit) {
      keep_alive_ = false;
      Response res = ErrorResponse(
          413, "PAYLOAD_TOO_LARGE",
          absl::StrCat("request body over ", server_->options_.max_body_bytes, " bytes"));
      Write(std::move(res));
      return;
    }
    if (ec) return Shutdown();
    Request req = parser_->release();
    keep_alive_ = req.keep_alive();
    method_ = req.method();
    auto ex = std::make_shared<Exchange>(shared_from_this(), std::move(req), peer_);
    pattern_ = server_->router_.PatternOf(ex->method(), ex->path());
    server_->router_.Dispatch(ex);
  }

  void Write(Response res) {
    if (closed_) return;
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    observe(res.result_int());
    // The read's deadline has passed long ago when a handler took its time.
    lowest().expires_after(std::chrono::seconds(30));
    auto out = std::make_shared<Response>(std::move(res));
    beast::http::async_write(stream_, *out, [self = self(), out](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) return self->Shutdown();
      self->Read();
    });
  }

  void observe(unsigned status) {
    if (server_->observer_) server_->observer_(method_, pattern_, status);
  }

  void Enqueue(std::string chunk) {
    net::post(stream_.get_executor(), [self = self(), chunk = std::move(chunk)]() mutable {
      if (self->closed_ || !self->streaming_) return;
      if (self->queued_bytes_ + chunk.size() > kMaxQueuedBytes) {
        spdlog::info("http: event stream to {} dropped: the client reads too slowly", self->peer_);
        return self->Shutdown();
      }
      self->queued_bytes_ += chunk.size();
      self->queue_.push_back(std::move(chunk));
      self->WriteNext();
    });
  }

  void WriteNext() {
    if (writing_ || queue_.empty() || closed_) return;
    writing_ = true;
    net::async_write(stream_, net::buffer(queue_.front()),
                     [self = self()](beast::error_code ec, size_t n) {
                       self->writing_ = false;
                       self->queued_bytes_ -= self->queue_.front().size();
                       self->queue_.pop_front();
                       if (ec) return self->Shutdown();
                       self->WriteNext();
                     });
  }

  // An event stream's client sends nothing more; a read ends when it goes.
  void WatchForClose() {
    stream_.async_read_some(net::buffer(sink_), [self = self()](beast::error_code ec, size_t) {
      if (ec) return self->Shutdown();
      self->WatchForClose();
    });
  }

  void Shutdown() {
    if (closed_.exchange(true)) return;
    beast::error_code ec;
    socket_().shutdown(tcp::socket::shutdown_both, ec);
    socket_().close(ec);
  }

  Stream stream_;
  HttpServer* server_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  bool keep_alive_ = true;
  Verb method_ = Verb::unknown;
  std::string pattern_;
  std::atomic<bool> closed_{false};
  // Event stream state (on the session's strand).
  bool streaming_ = false;
  bool writing_ = false;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  char sink_[512];
};

// --- Exchange

Exchange::Exchange(std::shared_ptr<Session> session, Request request, std::string peer)
    : session_(std::move(session)), request_(std::move(request)), peer_(std::move(peer)) {}

std::string_view Exchange::path() const {
  std::string_view target(request_.target().data(), request_.target().size());
  return target.substr(0, target.find('?'));
}

std::vector<std::pair<std::string, std::string>> Exchange::QueryParams() const {
  std::vector<std::pair<std::string, std::string>> out;
  std::string_view target(request_.target().data(), request_.target().size());
  size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  for (absl::string_view a : absl::StrSplit(AV(target.substr(q + 1)), '&', absl::SkipEmpty())) {
    std::string_view part = SV(a);
    size_t eq = part.find('=');
    std::string name = UrlDecode(part.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : UrlDecode(part.substr(eq + 1), true);
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

std::string Exchange::Query(std::string_view name, bool* has) const {
  if (has != nullptr) *has = false;
  for (auto& [k, v] : QueryParams()) {
    if (k == name) {
      if (has != nullptr) *has = true;
      return v;
    }
  }
  return "";
}

std::string Exchange::Header(std::string_view name) const {
  auto it = request_.find(beast::string_view(name.data(), name.size()));
  if (it == request_.end()) return "";
  return std::string(it->value());
}

std::string Exchange::Cookie(std::string_view name) const {
  for (auto it = request_.find(beast::http::field::cookie);
       it != request_.end() && it->name() == beast::http::field::cookie; ++it) {
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(it->value().data(), it->value().size()), ';')) {
      part = absl::StripAsciiWhitespace(part);
      size_t eq = part.find('=');
      if (eq != absl::string_view::npos && SV(part.substr(0, eq)) == name) {
        return std::string(part.substr(eq + 1));
      }
    }
  }
  return "";
}

void Exchange::Respond(Response response) {
  if (answered_.exchange(true)) return;
  session_->Respond(std::move(response));
}

void Exchange::RespondJson(unsigned status, std::string json) {
  Response res{static_cast<beast::http::status>(status), 11};
  res.set(beast::http::field::content_type, "application/json");
  res.set(beast::http::field::cache_control, "no-store");
  res.body() = std::move(json);
  Respond(std::move(res));
}

std::shared_ptr<EventStream> Exchange::StartEvents() {
  answered_ = true;
  session_->BeginEvents();
  return session_;
}

// --- Router

void Router::Add(Verb method, std::string pattern, Handler handler) {
  Route r{method, pattern, {}, std::move(handler)};
  for (absl::string_view s : absl::StrSplit(pattern, '/', absl::SkipEmpty())) {
    r.segments.emplace_back(s);
  }
  routes_.push_back(std::move(r));
}

const Router::Route* Router::Match(Verb method, std::string_view path,
                                   std::map<std::string, std::string>* params,
                                   bool* path_known) const {
  std::vector<absl::string_view> parts = absl::StrSplit(AV(path), '/', absl::SkipEmpty());
  *path_known = false;
  for (const Route& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    std::map<std::string, std::string> found;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      const std::string& seg = r.segments[i];
      if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
        std::string value = UrlDecode(SV(parts[i]), false);
        if (value.empty()) ok = false;
        found[seg.substr(1, seg.size() - 2)] = std::move(value);
      } else {
        ok = seg == parts[i];
      }
    }
    if (!ok) continue;
    *path_known = true;
    if (r.method != method && !(method == Verb::head && r.method == Verb::get)) continue;
    if (params != nullptr) *params = std::move(found);
    return &r;
  }
  return nullptr;
}

void Router::Dispatch(const std::shared_ptr<Exchange>& ex) const {
  bool known = false;
  const Route* r = Match(ex->method(), ex->path(), &ex->params(), &known);
  if (r == nullptr) {
    if (known) {
      ex->Respond(ErrorResponse(405, "METHOD_NOT_ALLOWED",
                                absl::StrCat(std::string(ex->request().method_string()),
                                             " is not allowed on ", AV(ex->path()))));
    } else {
      ex->Respond(ErrorResponse(404, "NOT_FOUND", absl::StrCat("no such path: ", AV(ex->path()))));
    }
    return;
  }
  r->handler(ex);
}

std::string Router::PatternOf(Verb method, std::string_view path) const {
  bool known = false;
  const Route* r = Match(method, path, nullptr, &known);
  return r != nullptr ? r->pattern : "";
}

// --- HttpServer

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start() {
  size_t colon = options_.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen '", options_.listen, "': expected HOST:PORT"));
  }
  std::string host = options_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--http-listen '", options_.listen, "': cannot resolve ", host));
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", options_.listen, ": ", ec.message()));
  }
  int bound = acceptor_.local_endpoint().port();
  Accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
  return bound;
}

void HttpServer::Accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      if (connections_.load() >= options_.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        ++connections_;
        std::shared_ptr<Session> session;
        if (options_.tls != nullptr) {
          session = std::make_shared<StreamSession<beast::ssl_stream<beast::tcp_stream>>>(
              std::move(socket), this, *options_.tls);
        } else {
          session = std::make_shared<StreamSession<beast::tcp_stream>>(std::move(socket), this);
        }
        {
          std::lock_guard<std::mutex> lock(sessions_mu_);
          // Forget the gone ones now and then, so the list stays the size
          // of what is open.
          if (sessions_.size() > 64 && sessions_.size() > 2 * connections_.load()) {
            std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
          }
          sessions_.push_back(session);
        }
        session->Start();
      }
    }
    Accept();
  });
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  net::post(io_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) s->Close();
    }
    sessions_.clear();
  }
  // Let the closes run (a second at most), then stop whatever is left.
  absl::Time deadline = absl::Now() + absl::Seconds(1);
  while (connections_.load() > 0 && absl::Now() < deadline && !threads_.empty()) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::string UrlDecode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int v = 0;
      if (absl::SimpleHexAtoi(AV(s.substr(i + 1, 2)), &v)) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(form && c == '+' ? ' ' : c);
  }
  return out;
}

}  // namespace gantry::http
