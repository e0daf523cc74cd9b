// POST /api/v1/webhooks/{github|gitlab|gitea}: push webhooks (docs/api.md,
// docs/materials.md "Webhooks"). A delivery is checked against the shared
// secret (--webhook-secret-file) before anything in it is read; a push
// makes the material poller fetch every material whose URL the payload
// names, at once (MaterialPoller::NotifyPush). Other events (ping) are
// answered 200 and do nothing. Every delivery is audited as
// `material.webhook`, refused ones too; the secret is never logged.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "controller/audit/audit_log.h"
#include "controller/http/http_server.h"
#include "controller/materials/material_poller.h"

namespace gantry::http {

struct WebhookDeps {
  std::string secret;  // "" = every delivery is refused
  MaterialPoller* poller = nullptr;
  AuditLog* audit = nullptr;
};

void AddWebhookRoutes(Router& router, WebhookDeps deps);

// The secret from `path` (surrounding whitespace dropped), "" for no path.
// An unreadable or empty file is an error naming the file.
absl::StatusOr<std::string> LoadWebhookSecret(const std::string& path);

}  // namespace gantry::http
