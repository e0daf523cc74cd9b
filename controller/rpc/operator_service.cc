#include "controller/rpc/operator_service.h"

#include <malloc.h>

#include "absl/strings/str_cat.h"
#include "common/config/parser.h"
#include "common/grpc_status.h"
#include "controller/bootstrap.h"
#include "controller/rpc/artifact_streams.h"

namespace gantry::rpc {
namespace {

// A parse of a large config frees tens of MB in the thread's malloc arena,
// which glibc would otherwise keep: the controller would hold the peak of
// every thread that ever parsed one.
void ReleaseFreedMemory() { malloc_trim(0); }

}  // namespace

absl::StatusOr<Principal> OperatorService::Caller(grpc::CallbackServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return absl::UnauthenticatedError("no token given");
  auto token = BearerToken(std::string(it->second.data(), it->second.size()));
  if (!token) return absl::UnauthenticatedError("invalid token");
  auto info = tokens_->Authenticate(*token, absl::Now());
  if (!info) return absl::UnauthenticatedError("invalid or expired token");
  Principal who;
  who.user = info->user;
  who.admin = info->user == kBootstrapAdmin;
  who.source = ctx->peer();
  who.token_id = info->id;
  return who;
}

std::optional<Principal> OperatorService::Authenticate(grpc::CallbackServerContext* ctx,
                                                       grpc::ServerUnaryReactor* reactor) {
  auto who = Caller(ctx);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return std::nullopt;
  }
  return *who;
}

grpc::ServerUnaryReactor* OperatorService::WhoAmI(grpc::CallbackServerContext* ctx,
                                                  const v1::WhoAmIRequest*,
                                                  v1::WhoAmIResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Authenticate(ctx, reactor);
  if (!who) return reactor;
  resp->set_user(who->user);
  resp->set_role(who->admin ? "admin" : "user");
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OperatorService::ApplyConfig(grpc::CallbackServerContext* ctx,
                                                       const v1::ApplyConfigRequest* req,
                                                       v1::ApplyConfigResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto who = Authenticate(ctx, reactor);
  if (!who) return reactor;
  // Parsed here first, off the strand (and off gRPC's threads), so a config
  // that is refused never queues behind the scheduler's work, and only a
  // valid one reaches it.
  config_checks_.Post([this, req, resp, reactor, user = who->user] {
    if (req->files().empty()) {
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError("no config files given")));
      return;
    }
    std::vector<config::ConfigFile> files;
    for (const v1::ConfigFile& f : req->files()) files.push_back({f.path(), f.content()});
    config::ParseResult parsed = config::ParseConfig(files);
    files.clear();
    if (req->check_only()) {
      for (const config::ConfigError& e : parsed.errors) {
        v1::ConfigError* out = resp->add_errors();
        out->set_file(e.location.file.str());
        out->set_line(e.location.line);
        out->set_column(e.location.column);
        out->set_message(e.message);
      }
      resp->set_more_errors(static_cast<int64_t>(parsed.more_errors));
      parsed = config::ParseResult();
      ReleaseFreedMemory();
      reactor->Finish(grpc::Status::OK);
      return;
    }
    if (!parsed.ok()) {
      size_t count = parsed.errors.size() + parsed.more_errors;
      std::string message = absl::StrCat("config has ", count, count == 1 ? " error" : " errors",
                                         "; the first: ", parsed.errors.front().ToString());
      parsed = config::ParseResult();
      ReleaseFreedMemory();
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(message)));
      return;
    }
    parsed = config::ParseResult();
    ReleaseFreedMemory();
    std::vector<v1::ConfigFile> valid(req->files().begin(), req->files().end());
    scheduler_->ApplyConfig(std::move(valid), user,
                            [finish = Finisher(reactor, resp)](auto result) {
                              finish(std::move(result));
                              // The strand parsed the config again.
                              ReleaseFreedMemory();
                            });
  });
  return reactor;
}

grpc::ServerUnaryReactor* OperatorService::ShowConfig(grpc::CallbackServerContext* ctx,
                                                      const v1::ShowConfigRequest* req,
                                                      v1::ShowConfigResponse* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { reads_->ShowConfig(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::ListPipelines(grpc::CallbackServerContext* ctx,
                                                         const v1::ListPipelinesRequest*,
                                                         v1::ListPipelinesResponse* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { reads_->ListPipelines(std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::TriggerPipeline(grpc::CallbackServerContext* ctx,
                                                           const v1::TriggerPipelineRequest* req,
                                                           v1::PipelineRun* resp) {
  return Unary(ctx, resp, [&](const Principal& who, auto done) {
    scheduler_->Trigger(*req, who, std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::PipelineHistory(grpc::CallbackServerContext* ctx,
                                                           const v1::PipelineHistoryRequest* req,
                                                           v1::PipelineHistoryResponse* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { reads_->History(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::GetPipelineRun(grpc::CallbackServerContext* ctx,
                                                          const v1::GetPipelineRunRequest* req,
                                                          v1::PipelineRun* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { reads_->GetPipelineRun(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::ApproveStage(grpc::CallbackServerContext* ctx,
                                                        const v1::StageRequest* req,
                                                        v1::PipelineRun* resp) {
  return Unary(ctx, resp, [&](const Principal& who, auto done) {
    scheduler_->Approve(*req, who, std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::CancelStage(grpc::CallbackServerContext* ctx,
                                                       const v1::StageRequest* req,
                                                       v1::PipelineRun* resp) {
  return Unary(ctx, resp, [&](const Principal& who, auto done) {
    scheduler_->CancelStage(*req, who, std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::GetJobLog(grpc::CallbackServerContext* ctx,
                                                     const v1::GetJobLogRequest* req,
                                                     v1::GetJobLogResponse* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { reads_->GetJobLog(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::ListArtifacts(grpc::CallbackServerContext* ctx,
                                                         const v1::ArtifactRequest* req,
                                                         v1::ListArtifactsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!Authenticate(ctx, reactor)) return reactor;
  artifacts_->pool().WithDb([this, request = *req, reactor, resp](store::Db& db) {
    auto files = artifacts_->FilesForOperator(db, request);
    if (!files.ok()) return reactor->Finish(ToGrpcStatus(files.status()));
    for (const auto& f : *files) {
      auto* out = resp->add_files();
      out->set_path(f.artifact.path);
      out->set_size(f.artifact.size);
      out->set_sha256(f.artifact.sha256);
      out->set_executable(f.artifact.executable);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* OperatorService::GetArtifact(
    grpc::CallbackServerContext* ctx, const v1::ArtifactRequest* req) {
  if (auto who = Caller(ctx); !who.ok()) {
    // A reactor that only reports the refusal.
    class Refused final : public grpc::ServerWriteReactor<v1::ArtifactStreamChunk> {
     public:
      explicit Refused(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
      void OnDone() override { delete this; }
    };
    return new Refused(who.status());
  }
  return NewGetArtifactReactor(artifacts_, *req);
}

grpc::ServerUnaryReactor* OperatorService::ListAgents(grpc::CallbackServerContext* ctx,
                                                      const v1::ListAgentsRequest*,
                                                      v1::ListAgentsResponse* resp) {
  return Unary(ctx, resp,
               [&](const Principal&, auto done) { scheduler_->ListAgents(std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::UpdateAgent(grpc::CallbackServerContext* ctx,
                                                       const v1::UpdateAgentRequest* req,
                                                       v1::Agent* resp) {
  return Unary(ctx, resp, [&](const Principal&, auto done) {
    scheduler_->UpdateAgent(*req, std::move(done));
  });
}

}  // namespace gantry::rpc
