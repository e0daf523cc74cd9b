#include "controller/materials/push_webhook.h"

#include <gtest/gtest.h>

#include <map>

namespace gantry {
namespace {

HeaderFn Headers(std::map<std::string, std::string> h) {
  return [h](std::string_view name) {
    auto it = h.find(std::string(name));
    return it == h.end() ? std::string() : it->second;
  };
}

// RFC 4231 test case 2.
TEST(PushWebhookTest, HmacMatchesRfc4231) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(PushWebhookTest, GitHubSignature) {
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string sig = "sha256=" + HmacSha256Hex("s3cret", body);
  EXPECT_TRUE(VerifyWebhook(WebhookProvider::kGitHub, Headers({{"X-Hub-Signature-256", sig}}), body,
                            "s3cret")
                  .ok());
  // Upper-case hex is the same signature.
  std::string upper = "sha256=" + HmacSha256Hex("s3cret", body);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  upper.replace(0, 7, "sha256=");
  EXPECT_TRUE(VerifyWebhook(WebhookProvider::kGitHub, Headers({{"X-Hub-Signature-256", upper}}),
                            body, "s3cret")
                  .ok());
  absl::Status missing = VerifyWebhook(WebhookProvider::kGitHub, Headers({}), body, "s3cret");
  EXPECT_TRUE(absl::IsUnauthenticated(missing)) << missing;
  absl::Status other = VerifyWebhook(WebhookProvider::kGitHub,
                                     Headers({{"X-Hub-Signature-256", sig}}), body + " ", "s3cret");
  EXPECT_TRUE(absl::IsPermissionDenied(other)) << other;
  absl::Status wrong_key = VerifyWebhook(WebhookProvider::kGitHub,
                                         Headers({{"X-Hub-Signature-256", sig}}), body, "another");
  EXPECT_TRUE(absl::IsPermissionDenied(wrong_key)) << wrong_key;
  // The old SHA-1 form alone is not accepted.
  absl::Status sha1 = VerifyWebhook(WebhookProvider::kGitHub,
                                    Headers({{"X-Hub-Signature-256", "sha1=abc"}}), body, "s3cret");
  EXPECT_TRUE(absl::IsPermissionDenied(sha1)) << sha1;
  // No secret configured: refused even with a matching empty-key HMAC.
  absl::Status off = VerifyWebhook(
      WebhookProvider::kGitHub,
      Headers({{"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("", body)}}), body, "");
  EXPECT_TRUE(absl::IsPermissionDenied(off)) << off;
  EXPECT_EQ(off.message().find("s3cret"), std::string::npos);
}

TEST(PushWebhookTest, GiteaSignatureAndGitLabToken) {
  const std::string body = "{}";
  EXPECT_TRUE(VerifyWebhook(WebhookProvider::kGitea,
                            Headers({{"X-Gitea-Signature", HmacSha256Hex("k", body)}}), body, "k")
                  .ok());
  EXPECT_TRUE(absl::IsPermissionDenied(
      VerifyWebhook(WebhookProvider::kGitea,
                    Headers({{"X-Gitea-Signature", HmacSha256Hex("x", body)}}), body, "k")));
  EXPECT_TRUE(
      VerifyWebhook(WebhookProvider::kGitLab, Headers({{"X-Gitlab-Token", "k"}}), body, "k").ok());
  absl::Status bad =
      VerifyWebhook(WebhookProvider::kGitLab, Headers({{"X-Gitlab-Token", "kk"}}), body, "k");
  EXPECT_TRUE(absl::IsPermissionDenied(bad)) << bad;
  EXPECT_TRUE(
      absl::IsUnauthenticated(VerifyWebhook(WebhookProvider::kGitLab, Headers({}), body, "k")));
}

TEST(PushWebhookTest, EventsAndProviders) {
  EXPECT_TRUE(IsPushEvent(WebhookProvider::kGitHub, "push"));
  EXPECT_FALSE(IsPushEvent(WebhookProvider::kGitHub, "ping"));
  EXPECT_TRUE(IsPushEvent(WebhookProvider::kGitLab, "Push Hook"));
  EXPECT_TRUE(IsPushEvent(WebhookProvider::kGitLab, "Tag Push Hook"));
  EXPECT_FALSE(IsPushEvent(WebhookProvider::kGitLab, "Merge Request Hook"));
  EXPECT_TRUE(IsPushEvent(WebhookProvider::kGitea, "push"));
  EXPECT_EQ(WebhookEvent(WebhookProvider::kGitea, Headers({{"X-Gitea-Event", "push"}})), "push");
  EXPECT_TRUE(WebhookProviderOf("gitlab").ok());
  EXPECT_TRUE(absl::IsNotFound(WebhookProviderOf("bitbucket").status()));
}

TEST(PushWebhookTest, ParsesRepositoryUrlsOfEachSender) {
  auto github = ParsePushPayload(R"({
    "ref": "refs/heads/main", "after": "abc", "commits": [{"id": "abc"}],
    "repository": {"id": 1, "clone_url": "https://github.com/o/app.git",
                   "ssh_url": "git@github.com:o/app.git", "git_url": "git://github.com/o/app.git",
                   "html_url": "https://github.com/o/app", "private": false}})");
  ASSERT_TRUE(github.ok()) << github.status();
  EXPECT_EQ(github->ref, "refs/heads/main");
  EXPECT_EQ(github->repository_urls,
            (std::vector<std::string>{"https://github.com/o/app.git", "git@github.com:o/app.git",
                                      "git://github.com/o/app.git", "https://github.com/o/app"}));
  auto gitlab = ParsePushPayload(R"({
    "object_kind": "push", "ref": "refs/heads/dev",
    "project": {"git_http_url": "https://gl.example/g/app.git",
                "git_ssh_url": "git@gl.example:g/app.git", "web_url": "https://gl.example/g/app"},
    "repository": {"git_http_url": "https://gl.example/g/app.git", "homepage": "https://gl.example/g/app"}})");
  ASSERT_TRUE(gitlab.ok()) << gitlab.status();
  EXPECT_EQ(gitlab->ref, "refs/heads/dev");
  EXPECT_EQ(gitlab->repository_urls,
            (std::vector<std::string>{"https://gl.example/g/app.git", "https://gl.example/g/app",
                                      "git@gl.example:g/app.git"}));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePushPayload("not json").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePushPayload("[1,2]").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePushPayload(R"({"ref":"x"})").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(ParsePushPayload(R"({"repository":{"clone_url":7}})").status()));
}

}  // namespace
}  // namespace gantry
