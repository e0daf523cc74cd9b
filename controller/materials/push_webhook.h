// Push webhooks from GitHub, GitLab and Gitea (docs/materials.md,
// "Webhooks"): checking a delivery against the shared secret and reading the
// repository's URLs out of its JSON. No I/O here: the HTTP route
// (controller/http/webhook_routes.h) calls these and hands the result to
// MaterialPoller::NotifyPush.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "controller/materials/material_poller.h"

namespace gantry {

enum class WebhookProvider { kGitHub, kGitLab, kGitea };

// "github", "gitlab", "gitea" (the route's last part); NotFound otherwise.
absl::StatusOr<WebhookProvider> WebhookProviderOf(std::string_view name);
const char* WebhookProviderName(WebhookProvider provider);

// A request header by name ("" when absent).
using HeaderFn = std::function<std::string(std::string_view)>;

// Checks the delivery against `secret`, the way each sender signs:
//   GitHub  X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//   Gitea   X-Gitea-Signature: <hex HMAC-SHA256 of the body>
//   GitLab  X-Gitlab-Token: <the secret itself>
// Compared in constant time. UNAUTHENTICATED when the header is missing,
// PERMISSION_DENIED when it does not match. The messages never hold the
// secret or the expected value.
absl::Status VerifyWebhook(WebhookProvider provider, const HeaderFn& header, std::string_view body,
                           std::string_view secret);

// The event the sender says this is: X-GitHub-Event ("push", "ping"),
// X-Gitlab-Event ("Push Hook", "Tag Push Hook"), X-Gitea-Event ("push").
std::string WebhookEvent(WebhookProvider provider, const HeaderFn& header);
// Whether that event moves refs (the only ones that cause a fetch).
bool IsPushEvent(WebhookProvider provider, std::string_view event);

// The repository's URLs and the ref from a push payload: `ref` and every
// string of repository.{clone_url, ssh_url, git_url, html_url, url,
// git_http_url, git_ssh_url, homepage} and project.{git_http_url,
// git_ssh_url, web_url} (GitHub and Gitea use the first names, GitLab the
// others). INVALID_ARGUMENT for a body that is not a JSON object or names no
// repository URL.
absl::StatusOr<PushEvent> ParsePushPayload(std::string_view body);

// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace gantry
