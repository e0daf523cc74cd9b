#include "controller/rpc/operator_service.h"

#include <malloc.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/parser.h"
#include "common/grpc_status.h"
#include "common/secrets/secure_values.h"
#include "controller/config_repo/config_assembly.h"
#include "controller/config_repo/config_repo_poller.h"
#include "controller/http/forwarded_peer.h"
#include "controller/rpc/artifact_streams.h"

namespace gantry::rpc {
namespace {

// A parse of a large config frees tens of MB in the thread's malloc arena,
// which glibc would otherwise keep: the controller would hold the peak of
// every thread that ever parsed one.
void ReleaseFreedMemory() { malloc_trim(0); }

// The caller's address: for the HTTP listener's in-process calls, the
// browser's or script's it forwards (controller/http/forwarded_peer.h).
std::string Source(grpc::CallbackServerContext* ctx) {
  std::string peer = ctx->peer();
  // gRPC 1.51 names an in-process peer "unknown" (later versions "inproc"):
  // no network caller has either, so none can forward an address.
  if (peer == "unknown" || absl::StartsWith(peer, "inproc")) {
    const auto& md = ctx->client_metadata();
    auto it = md.find(kForwardedPeerMetadata);
    if (it != md.end()) {
      return absl::StrCat("http:", std::string(it->second.data(), it->second.size()));
    }
  }
  return peer;
}

std::string StageTarget(const v1::StageRequest& r) {
  return absl::StrCat(r.pipeline(), "/", r.counter(), "/", r.stage());
}

}  // namespace

// --- admission and the audit log

absl::StatusOr<Principal> OperatorService::Caller(grpc::CallbackServerContext* ctx) const {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return absl::UnauthenticatedError("no token given");
  auto token = BearerToken(std::string(it->second.data(), it->second.size()));
  if (!token) return absl::UnauthenticatedError("invalid token");
  auto info = tokens_->Authenticate(*token, absl::Now());
  if (!info) return absl::UnauthenticatedError("invalid or expired token");
  return authz_->Resolve(*info, Source(ctx));
}

absl::StatusOr<Principal> OperatorService::Admit(grpc::CallbackServerContext* ctx,
                                                 const Action& action) {
  // A standby writes nothing and holds no scheduler state: the caller is
  // sent to the leader.
  if (lease_ != nullptr && !lease_->serving() && (!action.verb.empty() || action.leader_only)) {
    return lease_->NotLeader();
  }
  auto who = Caller(ctx);
  if (!who.ok()) {
    // Refused reads by strangers are not worth a row each; refused actions are.
    if (!action.verb.empty()) Audit(nullptr, Source(ctx), action, who.status());
    return who.status();
  }
  if (absl::Status allowed = action.check(*who); !allowed.ok()) {
    Audit(&*who, who->source, action, allowed);
    return allowed;
  }
  return who;
}

void OperatorService::Audit(const Principal* who, const std::string& source, const Action& action,
                            const absl::Status& outcome) {
  if (audit_ == nullptr) return;
  AuditEntry entry;
  entry.actor = who != nullptr ? who->user : "";
  entry.source = source;
  entry.action = action.verb.empty() ? "read" : action.verb;
  entry.target = action.target;
  bool refused = absl::IsPermissionDenied(outcome) || absl::IsUnauthenticated(outcome);
  entry.outcome = outcome.ok() ? AuditOutcome::kOk
                  : refused    ? AuditOutcome::kDenied
                               : AuditOutcome::kFailed;
  entry.reason = outcome.ok() ? action.note : std::string(outcome.message());
  audit_->Record(std::move(entry));
}

OperatorService::Record OperatorService::Recorder(const Principal& who, Action action) {
  if (action.verb.empty()) {
    // A read: only a refusal (a gate, say) is worth a row.
    return [this, who, action = std::move(action)](const absl::Status& st) {
      if (absl::IsPermissionDenied(st)) Audit(&who, who.source, action, st);
    };
  }
  return [this, who, action = std::move(action)](const absl::Status& st) {
    Audit(&who, who.source, action, st);
  };
}

std::function<absl::Status(const Principal&)> OperatorService::Anyone() const {
  return [](const Principal&) { return absl::OkStatus(); };
}

std::function<absl::Status(const Principal&)> OperatorService::Admins(std::string what) const {
  return [this, what = std::move(what)](const Principal& who) {
    return authz_->CheckAdmin(who, what);
  };
}

std::function<absl::Status(const Principal&)> OperatorService::Viewers(std::string pipeline) const {
  return [this, pipeline = std::move(pipeline)](const Principal& who) {
    return authz_->CheckView(who, pipeline);
  };
}

std::function<absl::Status(const Principal&)> OperatorService::Operators(
    std::string pipeline) const {
  return [this, pipeline = std::move(pipeline)](const Principal& who) {
    return authz_->CheckOperate(who, pipeline);
  };
}

std::function<absl::Status(const Principal&)> OperatorService::Triggerers(
    std::string pipeline) const {
  return [this, pipeline = std::move(pipeline)](const Principal& who) {
    return authz_->CheckTrigger(who, pipeline);
  };
}

// --- config

namespace {

absl::Status EncryptSecureValues(std::vector<v1::ConfigFile>& files) {
  const secrets::Cipher* cipher = secrets::ProcessCipher();
  if (cipher == nullptr) return absl::OkStatus();
  for (v1::ConfigFile& f : files) {
    auto encrypted = secrets::EncryptSecureValues(f.path(), f.content(), *cipher);
    if (!encrypted.ok()) return encrypted.status();
    if (encrypted->encrypted > 0) f.set_content(std::move(encrypted->content));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* OperatorService::ApplyConfig(grpc::CallbackServerContext* ctx,
                                                       const v1::ApplyConfigRequest* req,
                                                       v1::ApplyConfigResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  // Checking a config stores nothing: anyone may.
  Action action{req->check_only() ? "" : "config.apply", "config",
                req->check_only() ? Anyone() : Admins("apply a config")};
  auto who = Admit(ctx, action);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  // Parsed here first, off the strand (and off gRPC's threads), so a config
  // that is refused never queues behind the scheduler's work, and only a
  // valid one reaches it.
  config_checks_.Post([this, req, resp, reactor, user = who->user,
                       finish = Finisher(reactor, resp, Recorder(*who, action))] {
    if (req->files().empty()) {
      finish(absl::InvalidArgumentError("no config files given"));
      return;
    }
    std::vector<config::ConfigFile> files;
    for (const v1::ConfigFile& f : req->files()) files.push_back({f.path(), f.content()});
    // Checked with the config repos' files in force: references resolve
    // across both, and a repo's pipelines are not the main config's to change.
    config::ParseResult parsed =
        config_repo::AssembleMainApply(files, config_repos_ ? config_repos_->InForceFiles()
                                                            : std::vector<config::ConfigFile>{})
            .parsed;
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
      finish(absl::InvalidArgumentError(message));
      return;
    }
    parsed = config::ParseResult();
    ReleaseFreedMemory();
    std::vector<v1::ConfigFile> valid(req->files().begin(), req->files().end());
    // Plain secure values are stored, diffed and shown as ciphertext only.
    if (absl::Status st = EncryptSecureValues(valid); !st.ok()) {
      finish(st);
      return;
    }
    scheduler_->ApplyConfig(std::move(valid), user, [finish](auto result) {
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
  return Unary(ctx, resp, {"", "config", Admins("show the config")},
               [&](const Principal&, auto done) { reads_->ShowConfig(*req, std::move(done)); });
}

// --- pipelines, runs and stages

grpc::ServerUnaryReactor* OperatorService::ListPipelines(grpc::CallbackServerContext* ctx,
                                                         const v1::ListPipelinesRequest*,
                                                         v1::ListPipelinesResponse* resp) {
  return Unary(ctx, resp, {"", "pipelines", Anyone()}, [&](const Principal& who, auto done) {
    // Only what the caller may view.
    reads_->ListPipelines([this, who, done = std::move(done)](auto all) {
      if (!all.ok()) return done(std::move(all));
      auto config = authz_->current();
      v1::ListPipelinesResponse visible;
      for (auto& p : *all->mutable_pipelines()) {
        if (Authorizer::MayView(*config, who, p.name())) {
          *visible.add_pipelines() = std::move(p);
        }
      }
      done(std::move(visible));
    });
  });
}

grpc::ServerUnaryReactor* OperatorService::TriggerPipeline(grpc::CallbackServerContext* ctx,
                                                           const v1::TriggerPipelineRequest* req,
                                                           v1::PipelineRun* resp) {
  return Unary(
      ctx, resp, {"pipeline.trigger", req->pipeline(), Triggerers(req->pipeline())},
      [&](const Principal& who, auto done) { scheduler_->Trigger(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::PipelineHistory(grpc::CallbackServerContext* ctx,
                                                           const v1::PipelineHistoryRequest* req,
                                                           v1::PipelineHistoryResponse* resp) {
  return Unary(ctx, resp, {"", req->pipeline(), Viewers(req->pipeline())},
               [&](const Principal&, auto done) { reads_->History(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::GetPipelineRun(grpc::CallbackServerContext* ctx,
                                                          const v1::GetPipelineRunRequest* req,
                                                          v1::PipelineRun* resp) {
  return Unary(ctx, resp,
               {"", absl::StrCat(req->pipeline(), "/", req->counter()), Viewers(req->pipeline())},
               [&](const Principal&, auto done) { reads_->GetPipelineRun(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::GetEnvironment(grpc::CallbackServerContext* ctx,
                                                          const v1::GetEnvironmentRequest* req,
                                                          v1::EnvironmentView* resp) {
  // Who holds a deploy lock is no secret: anyone waiting on it may ask.
  return Unary(ctx, resp, {"", absl::StrCat("environment/", req->name()), Anyone()},
               [&](const Principal&, auto done) { reads_->GetEnvironment(*req, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::ApproveStage(grpc::CallbackServerContext* ctx,
                                                        const v1::StageRequest* req,
                                                        v1::PipelineRun* resp) {
  return Unary(
      ctx, resp, {"stage.approve", StageTarget(*req), Operators(req->pipeline()), req->comment()},
      [&](const Principal& who, auto done) { scheduler_->Approve(*req, who, std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::CancelStage(grpc::CallbackServerContext* ctx,
                                                       const v1::StageRequest* req,
                                                       v1::PipelineRun* resp) {
  return Unary(ctx, resp, {"stage.cancel", StageTarget(*req), Operators(req->pipeline())},
               [&](const Principal& who, auto done) {
                 scheduler_->CancelStage(*req, who, std::move(done));
               });
}

grpc::ServerUnaryReactor* OperatorService::GetJobLog(grpc::CallbackServerContext* ctx,
                                                     const v1::GetJobLogRequest* req,
                                                     v1::GetJobLogResponse* resp) {
  return Unary(
      ctx, resp,
      {"", absl::StrCat(req->pipeline(), "/", req->counter(), "/", req->stage(), "/", req->job()),
       Viewers(req->pipeline())},
      [&](const Principal&, auto done) { reads_->GetJobLog(*req, std::move(done)); });
}

// --- artifacts

grpc::ServerUnaryReactor* OperatorService::ListArtifacts(grpc::CallbackServerContext* ctx,
                                                         const v1::ArtifactRequest* req,
                                                         v1::ListArtifactsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto who = Admit(ctx, {"", req->pipeline(), Viewers(req->pipeline())}); !who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  artifacts_->pool().WithDb([this, request = *req, reactor, resp](store::Db& db) {
    auto files = artifacts_->FilesForOperator(db, request);
    if (!files.ok()) return reactor->Finish(ToGrpcStatus(files.status()));
    for (const auto& f : *files) {
      auto* out = resp->add_files();
      out->set_path(f.artifact.path);
      out->set_size(f.artifact.size);
      out->set_sha256(f.artifact.sha256);
      out->set_xxh128(f.artifact.xxh128);
      out->set_executable(f.artifact.executable);
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* OperatorService::GetArtifact(
    grpc::CallbackServerContext* ctx, const v1::ArtifactRequest* req) {
  if (auto who = Admit(ctx, {"", req->pipeline(), Viewers(req->pipeline())}); !who.ok()) {
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

// --- agents

grpc::ServerUnaryReactor* OperatorService::ListAgents(grpc::CallbackServerContext* ctx,
                                                      const v1::ListAgentsRequest*,
                                                      v1::ListAgentsResponse* resp) {
  return Unary(ctx, resp, {"", "agents", Anyone(), "", true},
               [&](const Principal&, auto done) { scheduler_->ListAgents(std::move(done)); });
}

grpc::ServerUnaryReactor* OperatorService::UpdateAgent(grpc::CallbackServerContext* ctx,
                                                       const v1::UpdateAgentRequest* req,
                                                       v1::Agent* resp) {
  return Unary(ctx, resp,
               {absl::StrCat("agent.", req->action()), absl::StrCat("agent:", req->agent()),
                Admins(absl::StrCat(req->action(), " agents"))},
               [&](const Principal&, auto done) {
                 scheduler_->UpdateAgent(*req, RevokingOnDisable(req->action(), std::move(done)));
               });
}

}  // namespace gantry::rpc
