// Secure variables at rest: AES-256-GCM with a random 96-bit nonce per value
// (OpenSSL 3). A ciphertext reads "AES256GCM:<key id>:<base64 of nonce,
// ciphertext and tag>", so it is told apart from a plain value, and the key
// that made it is known after a rotation.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gantry::secrets {

inline constexpr char kCiphertextPrefix[] = "AES256GCM:";

// Whether `value` has the shape of a ciphertext (not whether it decrypts).
bool IsCiphertext(const std::string& value);

class Cipher {
 public:
  // `keys`: 32 raw bytes each; the first encrypts, all decrypt (the others
  // are older keys kept through a rotation).
  static absl::StatusOr<Cipher> FromKeys(std::vector<std::string> keys);
  // A key file's or variable's text: one base64 key per line, newest first.
  static absl::StatusOr<Cipher> FromKeyText(const std::string& text, const std::string& source);
  // A new random key, as one line of base64.
  static std::string NewKeyText();

  // `deterministic`: the nonce is an HMAC of the value under a key derived
  // from this one, so the same value encrypts the same way (a config applied
  // again with a plain value stays unchanged); equal values are then seen to
  // be equal, nothing more. Otherwise the nonce is random.
  absl::StatusOr<std::string> Encrypt(const std::string& plain,
                                      bool deterministic = false) const;
  // INVALID_ARGUMENT for what is not a ciphertext, FAILED_PRECONDITION for
  // one made by a key not held, DATA_LOSS when it does not authenticate.
  absl::StatusOr<std::string> Decrypt(const std::string& ciphertext) const;
  // The id of the key that encrypts ("" for an empty cipher).
  std::string current_key_id() const;
  // The ids of every key held, the encrypting one first.
  std::vector<std::string> key_ids() const;

 private:
  struct Key {
    std::string id;  // first 8 hex digits of the key's SHA-256
    std::string bytes;
  };
  std::vector<Key> keys_;
};

// The controller's cipher: from `key_file` if given, else the variable
// GANTRY_CIPHER_KEY, else DATA_DIR/cipher.key, made (0600) when absent.
// `source` is set to where the key came from.
absl::StatusOr<Cipher> LoadControllerCipher(const std::string& data_dir,
                                            const std::string& key_file, std::string* source);

// A secure variable's value for a job's environment: a ciphertext
// decrypted with the process's cipher, anything else as it is. A value that
// does not decrypt is logged (by name) and given as "".
std::string DecryptForJob(const std::string& name, const std::string& value);

// A secure value to store: encrypted with the process's cipher (when there
// is one and it is not a ciphertext already), else as it is.
std::string EncryptForStorage(const std::string& value);

// The process's cipher, set by the controller's main and again by a key
// rotation; null elsewhere. A pointer once returned stays valid.
const Cipher* ProcessCipher();
// `key_file`: the file the keys came from, which a rotation rewrites ("":
// they came from $GANTRY_CIPHER_KEY, which a rotation cannot change).
void SetProcessCipher(Cipher cipher, std::string key_file = "");
std::string ProcessCipherKeyFile();

// Reads the process's key file again if it changed since it was last read
// (an operator copied in the file of the controller that ran `gantry secret
// rotate-key`) and makes its keys the process's cipher. Returns whether the
// keys changed. A file that cannot be read, holds no valid key or lacks the
// key that encrypts now is an error, and the cipher stays as it was. Keys
// from $GANTRY_CIPHER_KEY, or none: false.
absl::StatusOr<bool> ReloadProcessCipher();

// The key id of a ciphertext ("" for anything else).
std::string KeyIdOf(const std::string& ciphertext);

}  // namespace gantry::secrets
