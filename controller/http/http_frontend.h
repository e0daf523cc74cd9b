// Everything the controller serves over HTTP, put together: the listener
// (http_server.h), the JSON API (api_routes.h), live events (event_hub.h),
// the dashboard (dashboard_assets.h) and /metrics (metrics.h).
//
// main builds it after the gRPC server (the API calls the operator service
// over that server's in-process channel), may add routes of its own
// (router(), before Start), and stops it before the gRPC server.
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "controller/auth.h"
#include "controller/authz.h"
#include "controller/http/api_routes.h"
#include "controller/http/event_hub.h"
#include "controller/http/http_server.h"
#include "controller/http/metrics.h"
#include "controller/read_service.h"
#include "controller/scheduling/change_notice.h"
#include "controller/scheduling/scheduler.h"

namespace gantry::http {

// The scheduler's change listener must be set before the scheduler starts,
// which is before the HTTP side exists: main sets this relay's Publish as
// the listener, and the frontend plugs in once built. Publish runs on the
// scheduler's strand and only posts.
class ChangeRelay {
 public:
  void Publish(const ChangeNotice& notice) {
    std::lock_guard<std::mutex> lock(mu_);
    if (target_) target_(notice);
  }
  void Set(std::function<void(const ChangeNotice&)> target) {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = std::move(target);
  }

 private:
  std::mutex mu_;
  std::function<void(const ChangeNotice&)> target_;
};

struct HttpFrontendDeps {
  grpc::Server* grpc_server;
  Scheduler* scheduler;
  ReadService* reads;
  const TokenRegistry* tokens;
  const Authorizer* authz;
  ChangeRelay* changes;
};

class HttpFrontend {
 public:
  HttpFrontend(HttpServerOptions options, HttpFrontendDeps deps, ApiOptions api = {});
  ~HttpFrontend();

  // Add routes here before Start (a webhook receiver, say).
  Router& router() { return server_.router(); }
  Metrics& metrics() { return metrics_; }
  absl::StatusOr<int> Start();
  void Stop();

 private:
  HttpFrontendDeps deps_;
  Metrics metrics_;
  HttpServer server_;
  EventHub hub_;
  bool stopped_ = false;
};

// Starts the frontend on `listen` and writes DATA_DIR/http.addr. When
// `listen` is the default (not given by the operator) and in use, logs a
// warning and returns nullptr: a second controller on one machine (tests,
// a staging copy) still runs, without HTTP. An address given explicitly
// that cannot be bound is an error. "" turns HTTP off. `extra_routes`, when
// given, adds routes of other parts of the controller (a webhook receiver)
// before the listener starts.
// `tls` (null: plain HTTP) makes it HTTPS, and the session cookies Secure.
absl::StatusOr<std::unique_ptr<HttpFrontend>> StartHttpFrontend(
    const std::string& listen, bool listen_given, const std::string& data_dir,
    HttpFrontendDeps deps, const std::function<void(Router&)>& extra_routes = nullptr,
    std::shared_ptr<boost::asio::ssl::context> tls = nullptr);

}  // namespace gantry::http
