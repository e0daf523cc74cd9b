#include "common/secrets/reencrypt.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gantry::secrets {
namespace {

// Characters of a ciphertext after its prefix: the key id, ':' and base64.
bool CiphertextChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' ||
         c == ':';
}

}  // namespace

Reencrypted ReencryptText(const std::string& text, const Cipher& cipher, bool deterministic) {
  Reencrypted out;
  const std::string prefix = kCiphertextPrefix;
  const std::string current = cipher.current_key_id();
  size_t done = 0;
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    size_t end = at + prefix.size();
    while (end < text.size() && CiphertextChar(text[end])) ++end;
    std::string value = text.substr(at, end - at);
    if (!IsCiphertext(value) || KeyIdOf(value) == current) {
      at = end;
      continue;
    }
    absl::StatusOr<std::string> plain = cipher.Decrypt(value);
    absl::StatusOr<std::string> again =
        plain.ok() ? cipher.Encrypt(*plain, deterministic) : plain.status();
    if (!again.ok()) {
      ++out.undecryptable;
      at = end;
      continue;
    }
    absl::StrAppend(&out.text, text.substr(done, at - done), *again);
    ++out.changed;
    done = end;
    at = end;
  }
  out.text += text.substr(done);
  return out;
}

}  // namespace gantry::secrets
