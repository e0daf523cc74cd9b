#include "common/secrets/cipher.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/files.h"

namespace gantry::secrets {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Every cipher ever set stays alive: a caller may still hold the pointer
// ProcessCipher() gave it before a key rotation replaced it.
std::mutex process_mu;
std::vector<std::unique_ptr<Cipher>>* process_ciphers = new std::vector<std::unique_ptr<Cipher>>;
std::atomic<const Cipher*> process_cipher{nullptr};
std::string* process_key_file = new std::string;
// What the key file looked like when its keys were last taken.
struct FileStamp {
  bool operator==(const FileStamp&) const = default;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
};
FileStamp* process_key_stamp = new FileStamp;

FileStamp StampOf(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

}  // namespace

bool IsCiphertext(const std::string& value) {
  if (!absl::StartsWith(value, kCiphertextPrefix)) return false;
  std::vector<std::string> parts = absl::StrSplit(value, ':');
  return parts.size() == 3 && parts[1].size() == 8 && !parts[2].empty();
}

absl::StatusOr<Cipher> Cipher::FromKeys(std::vector<std::string> keys) {
  Cipher cipher;
  for (std::string& bytes : keys) {
    if (bytes.size() != kKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("a cipher key must be ", kKeyBytes, " bytes, not ", bytes.size()));
    }
    cipher.keys_.push_back({Sha256Hex(bytes).substr(0, 8), std::move(bytes)});
  }
  if (cipher.keys_.empty()) return absl::InvalidArgumentError("no cipher key");
  return cipher;
}

absl::StatusOr<Cipher> Cipher::FromKeyText(const std::string& text, const std::string& source) {
  std::vector<std::string> keys;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::string bytes;
    if (!absl::Base64Unescape(absl::StripAsciiWhitespace(line), &bytes) ||
        bytes.size() != kKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": each line must be a base64 ",
                                                     kKeyBytes,
                                                     "-byte key (gantry-controller makes "
                                                     "one: head -c 32 /dev/urandom | base64)"));
    }
    keys.push_back(std::move(bytes));
  }
  auto cipher = FromKeys(std::move(keys));
  if (!cipher.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": no key"));
  return cipher;
}

std::string Cipher::NewKeyText() {
  std::string bytes(kKeyBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), kKeyBytes);
  return absl::Base64Escape(bytes);
}

std::string Cipher::current_key_id() const { return keys_.empty() ? "" : keys_[0].id; }

std::vector<std::string> Cipher::key_ids() const {
  std::vector<std::string> ids;
  for (const Key& key : keys_) ids.push_back(key.id);
  return ids;
}

std::string KeyIdOf(const std::string& ciphertext) {
  if (!IsCiphertext(ciphertext)) return "";
  return ciphertext.substr(strlen(kCiphertextPrefix), 8);
}

absl::StatusOr<std::string> Cipher::Encrypt(const std::string& plain, bool deterministic) const {
  if (keys_.empty()) return absl::FailedPreconditionError("no cipher key");
  const Key& key = keys_[0];
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (deterministic) {
    // A nonce key of its own (not the AES key), then HMAC(nonce key, value).
    unsigned char nonce_key[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char kLabel[] = "gantry secure variable nonce";
    HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()),
         reinterpret_cast<const unsigned char*>(kLabel), sizeof(kLabel) - 1, nonce_key, &n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int m = 0;
    HMAC(EVP_sha256(), nonce_key, static_cast<int>(n),
         reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), mac, &m);
    std::memcpy(bytes, mac, kNonceBytes);
  } else if (RAND_bytes(bytes, kNonceBytes) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.bytes.data()), bytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes + kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          bytes + kNonceBytes + plain.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return absl::StrCat(kCiphertextPrefix, key.id, ":", absl::Base64Escape(out));
}

absl::StatusOr<std::string> Cipher::Decrypt(const std::string& ciphertext) const {
  if (!IsCiphertext(ciphertext)) {
    return absl::InvalidArgumentError("not an encrypted value (AES256GCM:…)");
  }
  std::vector<std::string> parts = absl::StrSplit(ciphertext, ':');
  const Key* key = nullptr;
  for (const Key& k : keys_) {
    if (k.id == parts[1]) key = &k;
  }
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("the value was encrypted with key ", parts[1],
                                                      ", which this controller does not hold"));
  }
  std::string raw;
  if (!absl::Base64Unescape(parts[2], &raw) || raw.size() < kNonceBytes + kTagBytes) {
    return absl::InvalidArgumentError("a malformed encrypted value");
  }
  size_t n = raw.size() - kNonceBytes - kTagBytes;
  std::string plain(n, '\0');
  auto* in = reinterpret_cast<unsigned char*>(raw.data());
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key->bytes.data()), in) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        in + kNonceBytes, static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, in + kNonceBytes + n) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) ==
          1;
  if (!ok) return absl::DataLossError("an encrypted value does not authenticate");
  return plain;
}

absl::StatusOr<Cipher> LoadControllerCipher(const std::string& data_dir,
                                            const std::string& key_file, std::string* source) {
  if (!key_file.empty()) {
    *source = key_file;
    auto text = ReadFile(key_file);
    if (!text.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read --cipher-key-file: ", text.status().message()));
    }
    return Cipher::FromKeyText(*text, key_file);
  }
  if (const char* env = std::getenv("GANTRY_CIPHER_KEY"); env != nullptr && *env != '\0') {
    *source = "$GANTRY_CIPHER_KEY";
    return Cipher::FromKeyText(absl::StrReplaceAll(env, {{",", "\n"}}), *source);
  }
  const std::string path = data_dir + "/cipher.key";
  *source = path;
  if (!FileExists(path)) {
    if (absl::Status st = WriteFileAtomic(path, Cipher::NewKeyText() + "\n", 0600); !st.ok()) {
      return st;
    }
  }
  ::chmod(path.c_str(), 0600);
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Cipher::FromKeyText(*text, path);
}

std::string DecryptForJob(const std::string& name, const std::string& value) {
  if (!IsCiphertext(value)) return value;
  const Cipher* cipher = ProcessCipher();
  if (cipher == nullptr) {
    spdlog::error("secure variable {}: no cipher key to decrypt it with", name);
    return "";
  }
  absl::StatusOr<std::string> plain = cipher->Decrypt(value);
  if (!plain.ok()) {
    spdlog::error("secure variable {}: {}", name, std::string(plain.status().message()));
    return "";
  }
  return *plain;
}

std::string EncryptForStorage(const std::string& value) {
  const Cipher* cipher = ProcessCipher();
  if (cipher == nullptr || IsCiphertext(value)) return value;
  absl::StatusOr<std::string> encrypted = cipher->Encrypt(value);
  return encrypted.ok() ? *encrypted : value;
}

const Cipher* ProcessCipher() { return process_cipher.load(std::memory_order_acquire); }

void SetProcessCipher(Cipher cipher, std::string key_file) {
  std::lock_guard<std::mutex> lock(process_mu);
  process_ciphers->push_back(std::make_unique<Cipher>(std::move(cipher)));
  // Unknown: the file may have changed since the caller read it, so the
  // first reload reads it again.
  *process_key_stamp = FileStamp{};
  *process_key_file = std::move(key_file);
  process_cipher.store(process_ciphers->back().get(), std::memory_order_release);
}

std::string ProcessCipherKeyFile() {
  std::lock_guard<std::mutex> lock(process_mu);
  return *process_key_file;
}

absl::StatusOr<bool> ReloadProcessCipher() {
  std::lock_guard<std::mutex> lock(process_mu);
  const Cipher* current = process_cipher.load(std::memory_order_acquire);
  const std::string& path = *process_key_file;
  if (current == nullptr || path.empty()) return false;
  const FileStamp stamp = StampOf(path);
  if (stamp == *process_key_stamp) return false;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Cipher> next = Cipher::FromKeyText(*text, path);
  if (!next.ok()) return next.status();
  const std::vector<std::string> ids = next->key_ids();
  if (std::find(ids.begin(), ids.end(), current->current_key_id()) == ids.end()) {
    // A rotation keeps the older keys after the new one: a file without
    // the key in use is another cluster's, or was cut short.
    return absl::FailedPreconditionError(absl::StrCat(
        path, " does not hold key ", current->current_key_id(),
        ", which encrypts now; copy the leader's key file, or restart this controller to "
        "take the file as it is"));
  }
  *process_key_stamp = stamp;
  if (ids == current->key_ids()) return false;
  process_ciphers->push_back(std::make_unique<Cipher>(std::move(*next)));
  process_cipher.store(process_ciphers->back().get(), std::memory_order_release);
  return true;
}

}  // namespace gantry::secrets
