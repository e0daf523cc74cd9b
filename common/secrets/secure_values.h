// Encrypts, in the text of a config file, every plain value under a
// `secure_variables:` map, so what is stored (and diffed, and shown) holds
// only ciphertext; the rest of the file, comments and layout included, is
// left as written.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/secrets/cipher.h"

namespace gantry::secrets {

struct EncryptedFile {
  std::string content;
  int encrypted = 0;  // values that were plain
};

// `content` is a config file that already parsed. A value written so that
// it cannot be replaced in place (a block scalar, a plain scalar over
// several lines) is an error naming file:line:col and the variable.
absl::StatusOr<EncryptedFile> EncryptSecureValues(const std::string& path,
                                                  const std::string& content, const Cipher& cipher);

}  // namespace gantry::secrets
