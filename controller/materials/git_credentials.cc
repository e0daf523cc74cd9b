#include "controller/materials/git_credentials.h"

#include <spdlog/spdlog.h>

#include "common/secrets/cipher.h"

namespace gantry {

GitCredentials CredentialsOf(const config::Material& m) {
  GitCredentials c;
  c.username = m.username;
  if (m.encrypted_password.empty()) return c;
  const secrets::Cipher* cipher = secrets::ProcessCipher();
  if (cipher == nullptr) return c;
  auto plain = cipher->Decrypt(m.encrypted_password);
  if (!plain.ok()) {
    spdlog::warn("material {}: encrypted_password does not decrypt with this controller's key: {}",
                 m.name, std::string(plain.status().message()));
    return c;
  }
  c.password = std::move(*plain);
  return c;
}

GitCredentials CredentialsForUrl(const config::Config& config, const std::string& url) {
  for (const auto& p : config.pipelines) {
    for (const auto& m : p.materials) {
      if (m.type != config::Material::Type::kGit || m.url != url) continue;
      if (m.username.empty() && m.encrypted_password.empty()) continue;
      return CredentialsOf(m);
    }
  }
  return {};
}

}  // namespace gantry
