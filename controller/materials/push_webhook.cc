#include "controller/materials/push_webhook.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"

namespace gantry {

absl::StatusOr<WebhookProvider> WebhookProviderOf(std::string_view name) {
  if (name == "github") return WebhookProvider::kGitHub;
  if (name == "gitlab") return WebhookProvider::kGitLab;
  if (name == "gitea") return WebhookProvider::kGitea;
  return absl::NotFoundError(absl::StrCat("no webhook receiver for '",
                                          absl::string_view(name.data(), name.size()),
                                          "' (github, gitlab and gitea are served)"));
}

const char* WebhookProviderName(WebhookProvider provider) {
  switch (provider) {
    case WebhookProvider::kGitHub:
      return "github";
    case WebhookProvider::kGitLab:
      return "gitlab";
    case WebhookProvider::kGitea:
      return "gitea";
  }
  return "?";
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

absl::Status VerifyWebhook(WebhookProvider provider, const HeaderFn& header, std::string_view body,
                           std::string_view secret) {
  if (secret.empty()) {
    // Never accept a delivery because both sides happen to have no secret.
    return absl::PermissionDeniedError(
        "webhooks are off: the controller was started without --webhook-secret-file");
  }
  if (provider == WebhookProvider::kGitLab) {
    std::string token = header("X-Gitlab-Token");
    if (token.empty()) return absl::UnauthenticatedError("no X-Gitlab-Token header");
    if (!ConstantTimeEquals(token, secret)) {
      return absl::PermissionDeniedError("X-Gitlab-Token does not match the webhook secret");
    }
    return absl::OkStatus();
  }
  const char* name =
      provider == WebhookProvider::kGitHub ? "X-Hub-Signature-256" : "X-Gitea-Signature";
  std::string given = absl::AsciiStrToLower(absl::StripAsciiWhitespace(header(name)));
  if (given.empty()) return absl::UnauthenticatedError(absl::StrCat("no ", name, " header"));
  absl::string_view hex = given;
  if (provider == WebhookProvider::kGitHub && !absl::ConsumePrefix(&hex, "sha256=")) {
    return absl::PermissionDeniedError(
        absl::StrCat(name, " is not of the form sha256=<hex HMAC-SHA256>"));
  }
  if (!ConstantTimeEquals(std::string_view(hex.data(), hex.size()), HmacSha256Hex(secret, body))) {
    return absl::PermissionDeniedError(
        absl::StrCat(name, " does not match the body signed with the webhook secret"));
  }
  return absl::OkStatus();
}

std::string WebhookEvent(WebhookProvider provider, const HeaderFn& header) {
  switch (provider) {
    case WebhookProvider::kGitHub:
      return header("X-GitHub-Event");
    case WebhookProvider::kGitLab:
      return header("X-Gitlab-Event");
    case WebhookProvider::kGitea:
      return header("X-Gitea-Event");
  }
  return "";
}

bool IsPushEvent(WebhookProvider provider, std::string_view event) {
  if (provider == WebhookProvider::kGitLab) {
    return event == "Push Hook" || event == "Tag Push Hook";
  }
  return event == "push";
}

absl::StatusOr<PushEvent> ParsePushPayload(std::string_view body) {
  google::protobuf::Struct root;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &root, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the push payload is not a JSON object: ", st.message().as_string()));
  }
  PushEvent event;
  auto string_of = [](const google::protobuf::Struct& s, const char* key) -> std::string {
    auto it = s.fields().find(key);
    if (it == s.fields().end() || !it->second.has_string_value()) return "";
    return it->second.string_value();
  };
  event.ref = string_of(root, "ref");
  auto collect = [&](const char* object, std::initializer_list<const char*> keys) {
    auto it = root.fields().find(object);
    if (it == root.fields().end() || !it->second.has_struct_value()) return;
    for (const char* key : keys) {
      std::string url = string_of(it->second.struct_value(), key);
      if (url.empty()) continue;
      if (std::find(event.repository_urls.begin(), event.repository_urls.end(), url) ==
          event.repository_urls.end()) {
        event.repository_urls.push_back(std::move(url));
      }
    }
  };
  collect("repository", {"clone_url", "ssh_url", "git_url", "git_http_url", "git_ssh_url",
                         "html_url", "url", "homepage"});
  collect("project", {"git_http_url", "git_ssh_url", "web_url"});
  if (event.repository_urls.empty()) {
    return absl::InvalidArgumentError(
        "the push payload names no repository URL (repository.clone_url, "
        "repository.git_http_url, ...)");
  }
  return event;
}

}  // namespace gantry
