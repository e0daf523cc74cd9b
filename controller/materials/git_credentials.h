// A git material's credentials (`username`, `encrypted_password`; see
// docs/materials.md, "Credentials") as git needs them: the password
// decrypted with the controller's cipher, in memory only, for the fetch or
// the Assign that needs it.
#pragma once

#include <string>

#include "common/config/model.h"

namespace gantry {

struct GitCredentials {
  std::string username;
  std::string password;  // plain; never logged
};

// `m`'s credentials; a password that does not decrypt is logged (by
// material name) and left empty, so git fails with the server's 401.
GitCredentials CredentialsOf(const config::Material& m);

// The credentials of the first git material in `config` with this URL that
// names any (materials sharing a URL share its mirror, so one set is used).
GitCredentials CredentialsForUrl(const config::Config& config, const std::string& url);

}  // namespace gantry
