// A cipher key rotation's rewrite of stored text: every ciphertext in it
// (a config file, a diff, a variable's value) decrypted and encrypted again
// under the cipher's current key; the rest of the text left as it is.
#pragma once

#include <string>

#include "common/secrets/cipher.h"

namespace gantry::secrets {

struct Reencrypted {
  std::string text;
  int changed = 0;        // ciphertexts now under the current key
  int undecryptable = 0;  // left as they were: made by a key not held, or corrupt
};

// `deterministic` as Cipher::Encrypt: what config apply uses, so a config
// file applied again with the plain value still reads as unchanged.
Reencrypted ReencryptText(const std::string& text, const Cipher& cipher, bool deterministic);

}  // namespace gantry::secrets
