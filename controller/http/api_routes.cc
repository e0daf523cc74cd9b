#include "controller/http/api_routes.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/grpc_status.h"
#include "controller/http/forwarded_peer.h"
#include "controller/http/json_error.h"
#include "controller/http/proto_json.h"
#include "controller/http/session_auth.h"

namespace gantry::http {
namespace {

using Stub = v1::OperatorService::Stub;
using Fields = std::vector<std::pair<std::string, std::string>>;
template <typename Req, typename Resp>
using Invoke = void (*)(Stub*, grpc::ClientContext*, const Req*, Resp*,
                        std::function<void(grpc::Status)>);

// The stub's callback method `Name`, as a plain function.
#define GANTRY_RPC(Name)                                      \
  [](Stub* s, grpc::ClientContext* c, const auto* q, auto* r, \
     std::function<void(grpc::Status)> f) { s->async()->Name(c, q, r, std::move(f)); }

// A config apply parses megabytes; everything else answers in milliseconds
// unless the database is away, when the operator service's own retries
// decide.
constexpr auto kDeadline = std::chrono::seconds(120);

// Fills `req` from the exchange (see api_routes.h); INVALID_ARGUMENT when a
// part does not fit.
absl::Status FillRequest(const Exchange& ex, const Fields& fixed, google::protobuf::Message* req) {
  const std::string& body = ex.request().body();
  if (ex.method() != Verb::get && ex.method() != Verb::head && !body.empty()) {
    if (auto st = FromJson(body, req); !st.ok()) return st;
  }
  for (const auto& [name, value] : ex.QueryParams()) {
    if (auto st = SetField(req, name, value); !st.ok()) return st;
  }
  for (const auto& [name, value] : ex.params()) {
    std::string v = name == "counter" && value == "latest" ? "0" : value;
    if (auto st = SetField(req, name, v); !st.ok()) return st;
  }
  for (const auto& [name, value] : fixed) {
    if (auto st = SetField(req, name, value); !st.ok()) return st;
  }
  return absl::OkStatus();
}

void Prepare(const Exchange& ex, const std::string& token, grpc::ClientContext* ctx) {
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->AddMetadata(kForwardedPeerMetadata, ex.peer());
  ctx->set_deadline(std::chrono::system_clock::now() + kDeadline);
}

template <typename Req, typename Resp>
Handler Rpc(std::shared_ptr<Stub> stub, Invoke<Req, Resp> invoke, Fields fixed = {}) {
  return [stub, invoke, fixed](std::shared_ptr<Exchange> ex) {
    auto token = CallerToken(*ex);
    if (!token.ok()) return ex->Respond(ErrorResponse(token.status()));
    struct Call {
      grpc::ClientContext ctx;
      Req req;
      Resp resp;
    };
    auto call = std::make_shared<Call>();
    if (auto st = FillRequest(*ex, fixed, &call->req); !st.ok()) {
      return ex->Respond(ErrorResponse(st));
    }
    Prepare(*ex, *token, &call->ctx);
    invoke(stub.get(), &call->ctx, &call->req, &call->resp, [call, ex](grpc::Status st) {
      if (!st.ok()) return ex->Respond(ErrorResponse(FromGrpcStatus(st)));
      ex->RespondJson(200, ToJson(call->resp));
    });
  };
}

// POST /api/v1/session {"token": "..."}: checks the token with WhoAmI (so
// a bad one is refused and audited like any other) and sets the cookies.
Handler SignIn(std::shared_ptr<Stub> stub, bool secure) {
  return [stub, secure](std::shared_ptr<Exchange> ex) {
    // A cross-site form cannot send this content type without the browser
    // asking first, which this server never allows: no sign-in CSRF.
    if (ex->Header("Content-Type").rfind("application/json", 0) != 0) {
      return ex->Respond(ErrorResponse(415, "UNSUPPORTED_MEDIA_TYPE",
                                       "sign in with a JSON body: {\"token\": \"...\"}"));
    }
    v1::CreateTokenResponse body;  // any message with a `token` string field
    if (auto st = FromJson(ex->request().body(), &body); !st.ok() || body.token().empty()) {
      return ex->Respond(ErrorResponse(
          absl::InvalidArgumentError("sign in with a JSON body: {\"token\": \"...\"}")));
    }
    struct Call {
      grpc::ClientContext ctx;
      v1::WhoAmIRequest req;
      v1::WhoAmIResponse resp;
      std::string token;
    };
    auto call = std::make_shared<Call>();
    call->token = body.token();
    Prepare(*ex, call->token, &call->ctx);
    stub->async()->WhoAmI(&call->ctx, &call->req, &call->resp, [call, ex, secure](grpc::Status st) {
      if (!st.ok()) return ex->Respond(ErrorResponse(FromGrpcStatus(st)));
      Response res{boost::beast::http::status::ok, 11};
      res.set(boost::beast::http::field::content_type, "application/json");
      res.set(boost::beast::http::field::cache_control, "no-store");
      res.insert(boost::beast::http::field::set_cookie, SessionCookie(call->token, secure));
      res.insert(boost::beast::http::field::set_cookie, CsrfCookie(RandomHex(16), secure));
      res.body() = ToJson(call->resp);
      ex->Respond(std::move(res));
    });
  };
}

void SignOut(std::shared_ptr<Exchange> ex) {
  Response res{boost::beast::http::status::ok, 11};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.insert(boost::beast::http::field::set_cookie, ClearedCookie(kSessionCookie));
  res.insert(boost::beast::http::field::set_cookie, ClearedCookie(kCsrfCookie));
  res.body() = "{}";
  ex->Respond(std::move(res));
}

}  // namespace

void AddApiRoutes(Router& r, std::shared_ptr<Stub> stub, ApiOptions options) {
  using V = Verb;
  const std::string p = "/api/v1/pipelines/{pipeline}";
  const std::string run = p + "/runs/{counter}";
  const std::string stage = run + "/stages/{stage}";
  const std::string job = stage + "/jobs/{job}";

  r.Add(V::post, "/api/v1/session", SignIn(stub, options.secure_cookies));
  r.Add(V::delete_, "/api/v1/session", SignOut);
  r.Add(V::get, "/api/v1/whoami",
        Rpc<v1::WhoAmIRequest, v1::WhoAmIResponse>(stub, GANTRY_RPC(WhoAmI)));

  // Pipelines, runs, stages, jobs.
  r.Add(V::get, "/api/v1/pipelines",
        Rpc<v1::ListPipelinesRequest, v1::ListPipelinesResponse>(stub, GANTRY_RPC(ListPipelines)));
  r.Add(V::post, p + "/trigger",
        Rpc<v1::TriggerPipelineRequest, v1::PipelineRun>(stub, GANTRY_RPC(TriggerPipeline)));
  r.Add(V::post, p + "/pause",
        Rpc<v1::PausePipelineRequest, v1::PipelineControls>(stub, GANTRY_RPC(PausePipeline)));
  r.Add(V::post, p + "/unpause",
        Rpc<v1::PipelineRequest, v1::PipelineControls>(stub, GANTRY_RPC(UnpausePipeline)));
  r.Add(V::post, p + "/unlock",
        Rpc<v1::PipelineRequest, v1::PipelineControls>(stub, GANTRY_RPC(UnlockPipeline)));
  r.Add(V::get, p + "/runs",
        Rpc<v1::PipelineHistoryRequest, v1::PipelineHistoryResponse>(stub,
                                                                     GANTRY_RPC(PipelineHistory)));
  r.Add(V::get, run,
        Rpc<v1::GetPipelineRunRequest, v1::PipelineRun>(stub, GANTRY_RPC(GetPipelineRun)));
  r.Add(V::get, run + "/vsm",
        Rpc<v1::GetPipelineRunRequest, v1::PipelineVsm>(stub, GANTRY_RPC(GetPipelineVsm)));
  r.Add(V::post, stage + "/approve",
        Rpc<v1::StageRequest, v1::PipelineRun>(stub, GANTRY_RPC(ApproveStage)));
  r.Add(V::post, stage + "/cancel",
        Rpc<v1::StageRequest, v1::PipelineRun>(stub, GANTRY_RPC(CancelStage)));
  r.Add(V::post, stage + "/rerun",
        Rpc<v1::StageRequest, v1::PipelineRun>(stub, GANTRY_RPC(RerunStage)));
  r.Add(V::get, stage + "/rerun-difference",
        Rpc<v1::StageRequest, v1::RerunConfigDifferenceResponse>(
            stub, GANTRY_RPC(RerunConfigDifference)));
  r.Add(V::get, job + "/log",
        Rpc<v1::GetJobLogRequest, v1::GetJobLogResponse>(stub, GANTRY_RPC(GetJobLog)));
  r.Add(V::get, job + "/artifacts",
        Rpc<v1::ArtifactRequest, v1::ListArtifactsResponse>(stub, GANTRY_RPC(ListArtifacts)));

  // Agents and register keys.
  r.Add(V::get, "/api/v1/agents",
        Rpc<v1::ListAgentsRequest, v1::ListAgentsResponse>(stub, GANTRY_RPC(ListAgents)));
  r.Add(V::post, "/api/v1/agents/{agent}/enable",
        Rpc<v1::UpdateAgentRequest, v1::Agent>(stub, GANTRY_RPC(UpdateAgent),
                                               {{"action", "enable"}}));
  r.Add(V::post, "/api/v1/agents/{agent}/disable",
        Rpc<v1::UpdateAgentRequest, v1::Agent>(stub, GANTRY_RPC(UpdateAgent),
                                               {{"action", "disable"}}));
  r.Add(V::post, "/api/v1/agents/{agent}",
        Rpc<v1::SetAgentRequest, v1::Agent>(stub, GANTRY_RPC(SetAgent)));
  r.Add(V::delete_, "/api/v1/agents/{agent}",
        Rpc<v1::DeleteAgentRequest, v1::Agent>(stub, GANTRY_RPC(DeleteAgent)));
  r.Add(V::get, "/api/v1/agent-keys",
        Rpc<v1::ListAgentKeysRequest, v1::ListAgentKeysResponse>(stub, GANTRY_RPC(ListAgentKeys)));
  r.Add(
      V::post, "/api/v1/agent-keys",
      Rpc<v1::CreateAgentKeyRequest, v1::CreateAgentKeyResponse>(stub, GANTRY_RPC(CreateAgentKey)));
  r.Add(V::delete_, "/api/v1/agent-keys/{key}",
        Rpc<v1::RevokeAgentKeyRequest, v1::AgentKey>(stub, GANTRY_RPC(RevokeAgentKey)));

  // Environments.
  r.Add(V::get, "/api/v1/environments",
        Rpc<v1::ListDeployedEnvironmentsRequest, v1::ListDeployedEnvironmentsResponse>(
            stub, GANTRY_RPC(ListDeployedEnvironments)));
  r.Add(V::get, "/api/v1/environments/{name}",
        Rpc<v1::GetEnvironmentRequest, v1::EnvironmentView>(stub, GANTRY_RPC(GetEnvironment)));
  r.Add(V::get, "/api/v1/environments/{name}/history",
        Rpc<v1::EnvironmentHistoryRequest, v1::EnvironmentHistoryResponse>(
            stub, GANTRY_RPC(EnvironmentHistory)));

  // Rollback and bad versions (docs/rollback.md).
  r.Add(V::post, "/api/v1/environments/{environment}/rollback",
        Rpc<v1::RollbackRequest, v1::RollbackResponse>(stub, GANTRY_RPC(Rollback)));
  r.Add(V::get, "/api/v1/versions",
        Rpc<v1::ListBadVersionsRequest, v1::ListBadVersionsResponse>(stub,
                                                                     GANTRY_RPC(ListBadVersions)));
  r.Add(V::post, "/api/v1/environments/{environment}/versions/{pipeline}/{counter}/clear",
        Rpc<v1::ClearBadVersionRequest, v1::ListBadVersionsResponse>(stub,
                                                                     GANTRY_RPC(ClearBadVersion)));

  // Git materials and secrets.
  r.Add(
      V::post, "/api/v1/materials/notify",
      Rpc<v1::NotifyMaterialRequest, v1::NotifyMaterialResponse>(stub, GANTRY_RPC(NotifyMaterial)));
  r.Add(V::post, "/api/v1/secrets/encrypt",
        Rpc<v1::EncryptSecretRequest, v1::EncryptSecretResponse>(stub, GANTRY_RPC(EncryptSecret)));
  r.Add(V::post, "/api/v1/secrets/rotate-key",
        Rpc<v1::RotateCipherKeyRequest, v1::RotateCipherKeyResponse>(stub,
                                                                     GANTRY_RPC(RotateCipherKey)));

  // Config, tokens, audit.
  r.Add(V::get, "/api/v1/config",
        Rpc<v1::ShowConfigRequest, v1::ShowConfigResponse>(stub, GANTRY_RPC(ShowConfig)));
  r.Add(V::post, "/api/v1/config",
        Rpc<v1::ApplyConfigRequest, v1::ApplyConfigResponse>(stub, GANTRY_RPC(ApplyConfig)));
  r.Add(V::get, "/api/v1/config/repos",
        Rpc<v1::ConfigRepoStatusRequest, v1::ConfigRepoStatusResponse>(
            stub, GANTRY_RPC(ConfigRepoStatus)));
  r.Add(V::get, "/api/v1/tokens",
        Rpc<v1::ListTokensRequest, v1::ListTokensResponse>(stub, GANTRY_RPC(ListTokens)));
  r.Add(V::post, "/api/v1/tokens",
        Rpc<v1::CreateTokenRequest, v1::CreateTokenResponse>(stub, GANTRY_RPC(CreateToken)));
  r.Add(V::delete_, "/api/v1/tokens/{id}",
        Rpc<v1::RevokeTokenRequest, v1::Token>(stub, GANTRY_RPC(RevokeToken)));
  r.Add(V::get, "/api/v1/audit",
        Rpc<v1::ListAuditRequest, v1::ListAuditResponse>(stub, GANTRY_RPC(ListAudit)));
}

}  // namespace gantry::http
