#include "controller/http/session_auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/auth.h"

namespace gantry::http {
namespace {

bool ChangesState(Verb v) { return v != Verb::get && v != Verb::head; }

// "http://host:port" -> "host:port".
std::string_view OriginHost(std::string_view origin) {
  size_t scheme = origin.find("://");
  if (scheme != std::string_view::npos) origin.remove_prefix(scheme + 3);
  return origin.substr(0, origin.find('/'));
}

// Equal in time independent of where they differ.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::string> CallerToken(const Exchange& ex) {
  std::string header = ex.Header("Authorization");
  if (!header.empty()) {
    auto token = BearerToken(header);
    if (!token) return absl::UnauthenticatedError("invalid token");
    return *token;
  }
  std::string token = ex.Cookie(kSessionCookie);
  if (token.empty()) return std::string();
  if (ChangesState(ex.method())) {
    std::string origin = ex.Header("Origin");
    if (!origin.empty() && OriginHost(origin) != ex.Header("Host")) {
      return absl::PermissionDeniedError(
          absl::StrCat("cross-site request refused (Origin ", origin, ")"));
    }
    std::string csrf = ex.Cookie(kCsrfCookie);
    if (csrf.empty() || !SameSecret(csrf, ex.Header(kCsrfHeader))) {
      return absl::PermissionDeniedError(
          absl::StrCat("missing or wrong ", kCsrfHeader, " header (sign in again)"));
    }
  }
  return token;
}

std::string SessionCookie(const std::string& token, bool secure) {
  return absl::StrCat(kSessionCookie, "=", token, "; Path=/; HttpOnly; SameSite=Strict",
                      secure ? "; Secure" : "");
}

std::string CsrfCookie(const std::string& value, bool secure) {
  return absl::StrCat(kCsrfCookie, "=", value, "; Path=/; SameSite=Strict",
                      secure ? "; Secure" : "");
}

std::string ClearedCookie(const char* name) {
  return absl::StrCat(name, "=; Path=/; Max-Age=0; SameSite=Strict");
}

}  // namespace gantry::http
