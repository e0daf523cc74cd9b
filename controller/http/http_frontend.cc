#include "controller/http/http_frontend.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "controller/http/api_routes.h"
#include "controller/http/dashboard_assets.h"
#include "controller/http/json_error.h"
#include "controller/http/permissions_route.h"

namespace gantry::http {
namespace {

// GET / and /ui/... : the dashboard's page (the script routes by path);
// GET /static/NAME: its files.
void ServeAsset(const std::shared_ptr<Exchange>& ex, std::string_view name) {
  const Asset* asset = FindAsset(name);
  if (asset == nullptr) {
    return ex->Respond(
        ErrorResponse(404, "NOT_FOUND",
                      absl::StrCat("no such file: ", absl::string_view(name.data(), name.size()))));
  }
  Response res{boost::beast::http::status::ok, 11};
  res.set(boost::beast::http::field::content_type, std::string(asset->content_type));
  // Scripts only from this server, no inline script, no framing: the page
  // holds no secret (the token is an HttpOnly cookie), but an injected
  // script could still act as the user.
  res.set("Content-Security-Policy",
          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set(boost::beast::http::field::cache_control, "no-cache");
  res.body() = std::string(asset->body);
  ex->Respond(std::move(res));
}

}  // namespace

HttpFrontend::HttpFrontend(HttpServerOptions options, HttpFrontendDeps deps, ApiOptions api)
    : deps_(deps),
      server_(std::move(options)),
      hub_(server_.io(), {deps.reads, deps.scheduler, deps.tokens, deps.authz}) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  auto stub = v1::OperatorService::NewStub(deps.grpc_server->InProcessChannel(args));
  AddApiRoutes(server_.router(), std::shared_ptr<v1::OperatorService::Stub>(std::move(stub)), api);
  Router& r = server_.router();
  r.Add(Verb::get, "/api/v1/events", hub_.Route());
  r.Add(Verb::get, "/api/v1/permissions", PermissionsRoute(deps.tokens, deps.authz));
  r.Add(Verb::get, "/metrics", metrics_.Route());
  r.Add(Verb::get, "/", [](std::shared_ptr<Exchange> ex) { ServeAsset(ex, "index.html"); });
  // The dashboard's own paths (/ui/runs/P/N...) all load the page; its
  // script shows what the path names. Up to five levels deep.
  std::string ui = "/ui";
  for (int depth = 0; depth < 5; ++depth) {
    ui += absl::StrCat("/{p", depth, "}");
    r.Add(Verb::get, ui, [](std::shared_ptr<Exchange> ex) { ServeAsset(ex, "index.html"); });
  }
  r.Add(Verb::get, "/static/{name}",
        [](std::shared_ptr<Exchange> ex) { ServeAsset(ex, ex->params()["name"]); });
  metrics_.set_sources({deps.scheduler, &server_.io(), [this] { return server_.connections(); },
                        [this] { return hub_.viewers(); }});
  server_.set_request_observer([this](Verb method, const std::string& route, unsigned status) {
    metrics_.CountHttp(method, route, status);
  });
  deps_.changes->Set([this](const ChangeNotice& notice) {
    metrics_.OnChange(notice);
    hub_.OnChange(notice);
  });
}

HttpFrontend::~HttpFrontend() { Stop(); }

absl::StatusOr<int> HttpFrontend::Start() { return server_.Start(); }

void HttpFrontend::Stop() {
  if (stopped_) return;
  stopped_ = true;
  deps_.changes->Set(nullptr);
  hub_.Stop();
  server_.Stop();
}

absl::StatusOr<std::unique_ptr<HttpFrontend>> StartHttpFrontend(
    const std::string& listen, bool listen_given, const std::string& data_dir,
    HttpFrontendDeps deps, const std::function<void(Router&)>& extra_routes,
    std::shared_ptr<boost::asio::ssl::context> tls) {
  if (listen.empty()) return nullptr;
  HttpServerOptions options;
  options.listen = listen;
  options.tls = tls;
  ApiOptions api;
  api.secure_cookies = tls != nullptr;
  auto frontend = std::make_unique<HttpFrontend>(options, deps, api);
  if (extra_routes) extra_routes(frontend->router());
  auto port = frontend->Start();
  if (!port.ok()) {
    if (!listen_given && absl::IsUnavailable(port.status())) {
      spdlog::warn("{}: not serving HTTP (pass --http-listen to choose another address)",
                   std::string(port.status().message()));
      return nullptr;
    }
    return port.status();
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  std::string address = absl::StrCat(host, ":", *port);
  if (auto st = WriteFileAtomic(data_dir + "/http.addr", address + "\n", 0644); !st.ok()) {
    return st;
  }
  spdlog::info("serving HTTP{} (dashboard, JSON API, /metrics) on {}://{}/", tls ? "S" : "",
               tls ? "https" : "http", address);
  return frontend;
}

}  // namespace gantry::http
