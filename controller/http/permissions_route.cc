#include "controller/http/permissions_route.h"

#include "absl/strings/str_cat.h"
#include "controller/http/json_error.h"
#include "controller/http/session_auth.h"

namespace gantry::http {

Handler PermissionsRoute(const TokenRegistry* tokens, const Authorizer* authz) {
  return [tokens, authz](std::shared_ptr<Exchange> ex) {
    auto token = CallerToken(*ex);
    if (!token.ok()) return ex->Respond(ErrorResponse(token.status()));
    if (token->empty()) {
      return ex->Respond(ErrorResponse(absl::UnauthenticatedError("no token given")));
    }
    auto info = tokens->Authenticate(*token, absl::Now());
    if (!info) {
      return ex->Respond(ErrorResponse(absl::UnauthenticatedError("invalid or expired token")));
    }
    Principal who = authz->Resolve(*info, absl::StrCat("http:", ex->peer()));
    auto config = authz->current();
    std::string out = absl::StrCat("{\"user\":", JsonQuote(who.user),
                                   ",\"admin\":", who.admin ? "true" : "false", ",\"pipelines\":{");
    bool first = true;
    if (config) {
      for (const auto& p : config->pipelines) {
        if (!Authorizer::MayView(*config, who, p.name)) continue;
        absl::StrAppend(&out, first ? "" : ",", JsonQuote(p.name),
                        ":{\"operate\":", authz->CheckOperate(who, p.name).ok() ? "true" : "false",
                        ",\"trigger\":", authz->CheckTrigger(who, p.name).ok() ? "true" : "false",
                        "}");
        first = false;
      }
    }
    out += "}}";
    ex->RespondJson(200, std::move(out));
  };
}

}  // namespace gantry::http
