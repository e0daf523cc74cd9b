// Who a browser or script is over HTTP. The same operator tokens as gRPC:
//   - scripts send "Authorization: Bearer TOKEN" (no cookie, no CSRF check);
//   - the dashboard signs in once (POST /api/v1/session with the token) and
//     gets it back as an HttpOnly, SameSite=Strict cookie that page scripts
//     cannot read, plus a second, readable cookie holding a random CSRF
//     value. A request authenticated by the cookie that changes anything
//     (any method but GET and HEAD) must echo that value in the
//     X-Gantry-CSRF header (double submit), and an Origin header, when sent,
//     must be this server's: another site can make a browser send the
//     cookie, but can neither read the CSRF cookie nor set the header.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/http/http_server.h"

namespace gantry::http {

inline constexpr char kSessionCookie[] = "gantry_session";
inline constexpr char kCsrfCookie[] = "gantry_csrf";
inline constexpr char kCsrfHeader[] = "X-Gantry-CSRF";

// The caller's token ("" when none was given), or PERMISSION_DENIED when a
// cookie-authenticated request fails the CSRF check.
absl::StatusOr<std::string> CallerToken(const Exchange& ex);

// Set-Cookie values for a signed-in session holding `token`, and for
// signing out. `secure` adds the Secure attribute (behind TLS).
std::string SessionCookie(const std::string& token, bool secure);
std::string CsrfCookie(const std::string& value, bool secure);
std::string ClearedCookie(const char* name);

}  // namespace gantry::http
