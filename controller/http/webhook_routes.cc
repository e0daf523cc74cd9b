#include "controller/http/webhook_routes.h"

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/git/git_command.h"
#include "controller/http/json_error.h"
#include "controller/materials/push_webhook.h"

namespace gantry::http {
namespace {

void Audit(const WebhookDeps& deps, const Exchange& ex, const std::string& provider,
           const std::string& target, AuditOutcome outcome, const std::string& reason) {
  if (deps.audit == nullptr) return;
  AuditEntry e;
  e.actor = absl::StrCat("webhook:", provider);
  e.source = ex.peer();
  e.action = "material.webhook";
  e.target = target;
  e.outcome = outcome;
  e.reason = reason;
  deps.audit->Record(std::move(e));
}

void Receive(const WebhookDeps& deps, const std::shared_ptr<Exchange>& ex) {
  const std::string name = ex->params()["provider"];
  auto provider = WebhookProviderOf(name);
  if (!provider.ok()) return ex->Respond(ErrorResponse(provider.status()));
  HeaderFn header = [&ex](std::string_view h) { return ex->Header(h); };
  const std::string& body = ex->request().body();

  // The signature first: nothing of an unsigned body is read.
  if (absl::Status st = VerifyWebhook(*provider, header, body, deps.secret); !st.ok()) {
    spdlog::warn("webhook {} from {} refused: {}", name, ex->peer(), std::string(st.message()));
    Audit(deps, *ex, name, name, AuditOutcome::kDenied, std::string(st.message()));
    return ex->Respond(ErrorResponse(st));
  }
  std::string event = WebhookEvent(*provider, header);
  if (!IsPushEvent(*provider, event)) {
    // ping, pull requests...: acknowledged so the sender shows a delivery
    // that worked, and nothing is done.
    Audit(deps, *ex, name, name, AuditOutcome::kOk,
          absl::StrCat("event '", event, "' ignored: only pushes cause a fetch"));
    return ex->RespondJson(
        200, absl::StrCat("{\"event\":", JsonQuote(event), ",\"ignored\":true,\"fetching\":0}"));
  }
  auto push = ParsePushPayload(body);
  if (!push.ok()) {
    Audit(deps, *ex, name, name, AuditOutcome::kFailed, std::string(push.status().message()));
    return ex->Respond(ErrorResponse(push.status()));
  }
  std::vector<std::string> shown;
  for (const auto& url : push->repository_urls) shown.push_back(git::RedactUrl(url));
  const std::string target = shown.front();
  if (deps.poller == nullptr) {
    absl::Status st = absl::UnavailableError("this controller does not poll materials");
    Audit(deps, *ex, name, target, AuditOutcome::kFailed, std::string(st.message()));
    return ex->Respond(ErrorResponse(st));
  }
  auto queued = deps.poller->NotifyPush(*push);
  if (!queued.ok()) {
    // Not the sender's fault: a repository no pipeline builds (yet). 202 so
    // the hook is not shown as broken; the body says nothing was fetched.
    std::string why = absl::StrCat("no git material uses ", absl::StrJoin(shown, ", "));
    spdlog::info("webhook {}: push to {} ({}): {}", name, target, push->ref, why);
    Audit(deps, *ex, name, target, AuditOutcome::kOk, why);
    return ex->RespondJson(202, absl::StrCat("{\"event\":", JsonQuote(event),
                                             ",\"fetching\":0,\"message\":", JsonQuote(why), "}"));
  }
  spdlog::info("webhook {}: push to {} ({}): fetching {} material(s) now", name, target, push->ref,
               *queued);
  Audit(deps, *ex, name, target, AuditOutcome::kOk,
        absl::StrCat("push to ", push->ref, ": fetching ", *queued));
  ex->RespondJson(202, absl::StrCat("{\"event\":", JsonQuote(event), ",\"fetching\":", *queued,
                                    ",\"ref\":", JsonQuote(push->ref), "}"));
}

}  // namespace

void AddWebhookRoutes(Router& router, WebhookDeps deps) {
  router.Add(Verb::post, "/api/v1/webhooks/{provider}",
             [deps](std::shared_ptr<Exchange> ex) { Receive(deps, ex); });
}

absl::StatusOr<std::string> LoadWebhookSecret(const std::string& path) {
  if (path.empty()) return std::string();
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-secret-file ", path, ": cannot read: ", text.status().message()));
  }
  std::string secret(absl::StripAsciiWhitespace(*text));
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--webhook-secret-file ", path, " is empty"));
  }
  return secret;
}

}  // namespace gantry::http
