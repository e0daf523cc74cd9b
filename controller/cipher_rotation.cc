#include "controller/cipher_rotation.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/secrets/cipher.h"
#include "common/secrets/reencrypt.h"
#include "controller/store/tx.h"

namespace gantry {
namespace {

// One rotation at a time: two would each put a key first.
std::mutex rotation_mu;

// What config apply hashes to tell an unchanged config (config_apply.cc).
std::string ContentHash(const std::vector<store::ConfigFileRecord>& files) {
  std::string all;
  for (const auto& f : files) absl::StrAppend(&all, "# file: ", f.path, "\n", f.content, "\n");
  return Sha256Hex(all);
}

}  // namespace

absl::StatusOr<v1::RotateCipherKeyResponse> RotateCipherKey(store::Db& db) {
  std::lock_guard<std::mutex> lock(rotation_mu);
  const secrets::Cipher* old_cipher = secrets::ProcessCipher();
  if (old_cipher == nullptr) {
    return absl::FailedPreconditionError("this controller has no cipher key");
  }
  const std::string key_file = secrets::ProcessCipherKeyFile();
  if (key_file.empty()) {
    return absl::FailedPreconditionError(
        "the cipher key comes from $GANTRY_CIPHER_KEY, which the controller cannot rewrite: "
        "give it with --cipher-key-file (or DATA_DIR/cipher.key) to rotate it");
  }
  absl::StatusOr<std::string> old_text = ReadFile(key_file);
  if (!old_text.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the cipher key file: ", old_text.status().message()));
  }
  // The new key first; the older ones stay to decrypt what was made with
  // them (a config file in a repository, a write racing this rotation).
  const std::string new_text = absl::StrCat(secrets::Cipher::NewKeyText(), "\n", *old_text);
  absl::StatusOr<secrets::Cipher> next = secrets::Cipher::FromKeyText(new_text, key_file);
  if (!next.ok()) return next.status();
  v1::RotateCipherKeyResponse response;
  response.set_old_key_id(old_cipher->current_key_id());
  response.set_new_key_id(next->current_key_id());
  response.set_key_file(key_file);
  // The file first: a crash after it leaves values under the old key, which
  // the file still holds.
  if (absl::Status st = WriteFileAtomic(key_file, new_text, 0600); !st.ok()) {
    return absl::InternalError(absl::StrCat("cannot write the cipher key file: ", st.message()));
  }
  secrets::SetProcessCipher(*next, key_file);
  const secrets::Cipher* cipher = secrets::ProcessCipher();

  absl::Status st = db.Run("RotateCipherKey", [&](store::Tx& tx) {
    response.clear_config_files();
    response.clear_config_diffs();
    response.clear_run_variables();
    response.clear_undecryptable();
    std::map<int64_t, bool> revisions;  // whose files changed
    for (store::EncryptedText t : tx.EncryptedTexts()) {
      bool config = t.kind != store::EncryptedText::Kind::kRunVariable;
      secrets::Reencrypted r = secrets::ReencryptText(t.text, *cipher, config);
      response.set_undecryptable(response.undecryptable() + r.undecryptable);
      if (r.changed == 0) continue;
      t.text = std::move(r.text);
      tx.UpdateEncryptedText(t);
      switch (t.kind) {
        case store::EncryptedText::Kind::kConfigFile:
          response.set_config_files(response.config_files() + r.changed);
          revisions[t.id] = true;
          break;
        case store::EncryptedText::Kind::kConfigDiff:
          response.set_config_diffs(response.config_diffs() + r.changed);
          break;
        case store::EncryptedText::Kind::kRunVariable:
          response.set_run_variables(response.run_variables() + r.changed);
          break;
      }
    }
    for (const auto& [revision, _] : revisions) {
      std::optional<store::ConfigRevisionRecord> rec = tx.GetConfigRevision(revision);
      if (rec) tx.SetConfigRevisionHash(revision, ContentHash(rec->files));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("the key file has the new key ", response.new_key_id(),
                                     " but stored values were not re-encrypted (run "
                                     "rotate-key again): ",
                                     st.message()));
  }
  spdlog::info(
      "cipher key rotated: {} -> {} ({}); re-encrypted {} value(s) in config files, {} in "
      "config diffs, {} secure run variable(s); {} could not be decrypted",
      response.old_key_id(), response.new_key_id(), key_file, response.config_files(),
      response.config_diffs(), response.run_variables(), response.undecryptable());
  return response;
}

bool PickUpRotatedCipherKey() {
  static std::mutex mu;
  static std::string* last_error = new std::string;
  std::lock_guard<std::mutex> lock(mu);
  absl::StatusOr<bool> changed = secrets::ReloadProcessCipher();
  if (!changed.ok()) {
    std::string error(changed.status().message());
    if (error != *last_error) {
      spdlog::error(
          "secure variables: the key file changed but cannot be used ({}); still "
          "using key {}",
          error, secrets::ProcessCipher()->current_key_id());
      *last_error = std::move(error);
    }
    return false;
  }
  last_error->clear();
  if (!*changed) return false;
  const secrets::Cipher* cipher = secrets::ProcessCipher();
  spdlog::info("secure variables: {} changed: key {} now encrypts ({} key(s) held: {})",
               secrets::ProcessCipherKeyFile(), cipher->current_key_id(), cipher->key_ids().size(),
               absl::StrJoin(cipher->key_ids(), ", "));
  return true;
}

}  // namespace gantry
