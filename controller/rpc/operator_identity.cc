// The operator API's identity calls: who am I, tokens, the audit log.
#include "absl/strings/str_cat.h"
#include "controller/rpc/operator_service.h"
#include "controller/run_view.h"

namespace gantry::rpc {

grpc::ServerUnaryReactor* OperatorService::WhoAmI(grpc::CallbackServerContext* ctx,
                                                  const v1::WhoAmIRequest*,
                                                  v1::WhoAmIResponse* resp) {
  return Unary(ctx, resp, {"", "whoami", Anyone()}, [&](const Principal& who, auto done) {
    v1::WhoAmIResponse out;
    out.set_user(who.user);
    out.set_role(who.admin ? "admin" : "user");
    out.set_admin(who.admin);
    for (const std::string& r : who.roles) out.add_roles(r);
    out.mutable_token()->set_id(who.token_id);
    out.mutable_token()->set_user(who.user);
    out.mutable_token()->set_name(who.token_name);
    if (who.token_expires_at != absl::InfiniteFuture()) {
      SetTimestamp(absl::ToUnixMillis(who.token_expires_at), out.mutable_token()->mutable_expires_at());
    }
    done(std::move(out));
  });
}

grpc::ServerUnaryReactor* OperatorService::CreateToken(grpc::CallbackServerContext* ctx,
                                                       const v1::CreateTokenRequest* req,
                                                       v1::CreateTokenResponse* resp) {
  std::string for_user = req->user();
  Action action{"token.create", absl::StrCat("user:", for_user), nullptr};
  action.check = [this, for_user](const Principal& who) {
    if (for_user.empty() || for_user == who.user) return absl::OkStatus();
    return authz_->CheckAdmin(who, "create tokens for other users");
  };
  return Unary(ctx, resp, std::move(action), [&](const Principal& who, auto done) {
    v1::CreateTokenRequest request = *req;
    if (request.user().empty()) request.set_user(who.user);
    identity_->CreateToken(std::move(request), who.user, std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::ListTokens(grpc::CallbackServerContext* ctx,
                                                      const v1::ListTokensRequest* req,
                                                      v1::ListTokensResponse* resp) {
  bool others = req->all() || (!req->user().empty());
  Action action{"", "tokens", nullptr};
  action.check = [this, others, user = req->user()](const Principal& who) {
    if (!others || user == who.user) return absl::OkStatus();
    return authz_->CheckAdmin(who, "list other users' tokens");
  };
  return Unary(ctx, resp, std::move(action), [&](const Principal& who, auto done) {
    std::string user = req->all() ? "" : req->user().empty() ? who.user : req->user();
    identity_->ListTokens(std::move(user), std::move(done));
  });
}

grpc::ServerUnaryReactor* OperatorService::RevokeToken(grpc::CallbackServerContext* ctx,
                                                       const v1::RevokeTokenRequest* req,
                                                       v1::Token* resp) {
  return Unary(ctx, resp, {"token.revoke", absl::StrCat("token:", req->id()), Anyone()},
               [&](const Principal& who, auto done) {
                 // Whose token it is is known only once it is read.
                 auto may_revoke = [this, who](const std::string& owner) {
                   if (owner == who.user) return absl::OkStatus();
                   return authz_->CheckAdmin(who, "revoke other users' tokens");
                 };
                 identity_->RevokeToken(req->id(), who.user, std::move(may_revoke),
                                        std::move(done));
               });
}

grpc::ServerUnaryReactor* OperatorService::ListAudit(grpc::CallbackServerContext* ctx,
                                                     const v1::ListAuditRequest* req,
                                                     v1::ListAuditResponse* resp) {
  return Unary(ctx, resp, {"", "audit", Admins("read the audit log")},
               [&](const Principal&, auto done) { identity_->ListAudit(*req, std::move(done)); });
}

}  // namespace gantry::rpc
