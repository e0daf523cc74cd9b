#include "common/secrets/cipher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "common/files.h"
#include "common/secrets/reencrypt.h"
#include "common/secrets/secure_values.h"

namespace gantry::secrets {
namespace {

Cipher NewCipher() { return *Cipher::FromKeyText(Cipher::NewKeyText(), "test"); }

TEST(CipherTest, RoundTripsAndEveryValueIsFresh) {
  Cipher cipher = NewCipher();
  auto a = cipher.Encrypt("hunter2");
  auto b = cipher.Encrypt("hunter2");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(IsCiphertext(*a));
  EXPECT_NE(*a, *b);  // random nonce
  EXPECT_FALSE(absl::StrContains(*a, "hunter2"));
  EXPECT_EQ(*cipher.Decrypt(*a), "hunter2");
  EXPECT_EQ(*cipher.Decrypt(*cipher.Encrypt("")), "");
  // Deterministic: the same value twice is the same text, and still decrypts.
  auto d1 = cipher.Encrypt("hunter2", true);
  auto d2 = cipher.Encrypt("hunter2", true);
  ASSERT_TRUE(d1.ok() && d2.ok());
  EXPECT_EQ(*d1, *d2);
  EXPECT_NE(*d1, *cipher.Encrypt("hunter3", true));
  EXPECT_EQ(*cipher.Decrypt(*d1), "hunter2");
}

TEST(CipherTest, WrongKeyTamperingAndGarbageAreRefused) {
  Cipher cipher = NewCipher();
  std::string c = *cipher.Encrypt("s3cret");
  EXPECT_EQ(NewCipher().Decrypt(c).status().code(), absl::StatusCode::kFailedPrecondition);
  std::string tampered = c;
  size_t at = tampered.rfind(':') + 10;  // inside the nonce and ciphertext
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(cipher.Decrypt(tampered).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(cipher.Decrypt("plain").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Cipher::FromKeyText("short", "k").ok());
}

TEST(CipherTest, OlderKeysStillDecryptAfterARotation) {
  std::string old_key = Cipher::NewKeyText();
  Cipher before = *Cipher::FromKeyText(old_key, "k");
  std::string c = *before.Encrypt("v1");
  Cipher after = *Cipher::FromKeyText(Cipher::NewKeyText() + "\n" + old_key + "\n", "k");
  EXPECT_NE(after.current_key_id(), before.current_key_id());
  EXPECT_EQ(*after.Decrypt(c), "v1");
  EXPECT_TRUE(absl::StrContains(*after.Encrypt("v2"), after.current_key_id()));
}

// A standby picks up the key file another controller's rotation wrote, once
// it changes; a broken file leaves the keys as they were.
TEST(CipherTest, ProcessCipherFollowsItsKeyFile) {
  char dir[] = "/tmp/cipher_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/cipher.key";
  const std::string old_key = Cipher::NewKeyText() + "\n";
  ASSERT_TRUE(WriteFileAtomic(path, old_key, 0600).ok());
  auto first = Cipher::FromKeyText(old_key, path);
  ASSERT_TRUE(first.ok());
  const std::string old_id = first->current_key_id();
  SetProcessCipher(*first, path);
  EXPECT_EQ(ReloadProcessCipher().value_or(true), false) << "unchanged";
  EXPECT_EQ(ReloadProcessCipher().value_or(true), false) << "unchanged";
  auto under_old = ProcessCipher()->Encrypt("s3cret");
  ASSERT_TRUE(under_old.ok());

  // Another controller rotated: the new key first, the old one kept.
  const std::string rotated = Cipher::NewKeyText() + "\n" + old_key;
  ASSERT_TRUE(WriteFileAtomic(path, rotated, 0600).ok());
  EXPECT_EQ(ReloadProcessCipher().value_or(false), true);
  const std::string new_id = ProcessCipher()->current_key_id();
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(ProcessCipher()->key_ids(), (std::vector<std::string>{new_id, old_id}));
  EXPECT_EQ(ProcessCipher()->Decrypt(*under_old).value_or(""), "s3cret");
  EXPECT_EQ(ReloadProcessCipher().value_or(true), false) << "read once";

  // A file being copied in, or garbage: an error, the keys stay.
  ASSERT_TRUE(WriteFileAtomic(path, "not a key\n", 0600).ok());
  EXPECT_FALSE(ReloadProcessCipher().ok());
  EXPECT_EQ(ProcessCipher()->current_key_id(), new_id);
  // Another cluster's key file: it lacks the key in use, refused.
  ASSERT_TRUE(WriteFileAtomic(path, Cipher::NewKeyText() + "\n", 0600).ok());
  absl::StatusOr<bool> foreign = ReloadProcessCipher();
  EXPECT_FALSE(foreign.ok());
  EXPECT_TRUE(absl::StrContains(foreign.status().message(), "does not hold key " + new_id))
      << foreign.status();
  EXPECT_EQ(ProcessCipher()->current_key_id(), new_id);
  // The same keys written again: nothing changes.
  ASSERT_TRUE(WriteFileAtomic(path, rotated, 0600).ok());
  EXPECT_EQ(ReloadProcessCipher().value_or(true), false);
  EXPECT_EQ(ProcessCipher()->current_key_id(), new_id);
  std::filesystem::remove_all(dir);
}

TEST(SecureValuesTest, EncryptsPlainValuesInPlaceAndKeepsTheRest) {
  Cipher cipher = NewCipher();
  const std::string yaml =
      "# deploy secrets\n"
      "pipelines:\n"
      "  app:\n"
      "    secure_variables:\n"
      "      PASSWORD: hunter2   # the db\n"
      "      TOKEN: \"tok: en\"\n"
      "      QUOTED: 'it''s'\n"
      "      EMPTY:\n"
      "    environment_variables: {SECURE_NOT: plain}\n"
      "    stages:\n"
      "      - s:\n"
      "          secure_variables: {A: one, B: \"two\"}\n";
  auto out = EncryptSecureValues("p.yaml", yaml, cipher);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->encrypted, 5);
  for (const char* secret : {"hunter2", "tok: en", "it''s", "one", "two"}) {
    EXPECT_FALSE(absl::StrContains(out->content, secret)) << secret << "\n" << out->content;
  }
  EXPECT_TRUE(absl::StrContains(out->content, "# deploy secrets"));
  EXPECT_TRUE(absl::StrContains(out->content, "# the db"));
  EXPECT_TRUE(absl::StrContains(out->content, "SECURE_NOT: plain"));
  // Applying the plain file again gives the same text (the config is
  // unchanged); applying the stored one changes nothing.
  EXPECT_EQ(EncryptSecureValues("p.yaml", yaml, cipher)->content, out->content);
  auto again = EncryptSecureValues("p.yaml", out->content, cipher);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->encrypted, 0);
  EXPECT_EQ(again->content, out->content);
}

TEST(SecureValuesTest, BlockScalarIsRefusedWithItsPlace) {
  auto out = EncryptSecureValues("p.yaml",
                                 "pipelines:\n  app:\n    secure_variables:\n      KEY: |\n"
                                 "        line one\n",
                                 NewCipher());
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::StartsWith(out.status().message(), "p.yaml:4:")) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "'KEY'")) << out.status();
}

// A rotation's rewrite: every ciphertext of the old key moves to the new
// one, the text around them stays, and what no key held opens is left.
TEST(ReencryptTest, MovesEveryValueToTheNewKeyAndKeepsTheRest) {
  std::string old_key = Cipher::NewKeyText();
  Cipher old_cipher = *Cipher::FromKeyText(old_key, "old");
  Cipher rotated = *Cipher::FromKeyText(Cipher::NewKeyText() + "\n" + old_key, "new");
  std::string a = *old_cipher.Encrypt("alpha", true);
  std::string b = *old_cipher.Encrypt("beta");
  std::string foreign = *NewCipher().Encrypt("gamma");
  std::string text = "A: \"" + a + "\"\n+  B: " + b + "\nC: " + foreign + "\nplain: x\n";
  Reencrypted r = ReencryptText(text, rotated, true);
  EXPECT_EQ(r.changed, 2);
  EXPECT_EQ(r.undecryptable, 1);
  EXPECT_FALSE(absl::StrContains(r.text, a));
  EXPECT_FALSE(absl::StrContains(r.text, b));
  EXPECT_TRUE(absl::StrContains(r.text, foreign));
  EXPECT_TRUE(absl::StrContains(r.text, "\nplain: x\n"));
  // Deterministic: what config apply makes of the plain value.
  EXPECT_TRUE(absl::StrContains(r.text, "A: \"" + *rotated.Encrypt("alpha", true) + "\"\n"));
  // Again: nothing left to move.
  Reencrypted again = ReencryptText(r.text, rotated, true);
  EXPECT_EQ(again.changed, 0);
  EXPECT_EQ(again.text, r.text);
}

}  // namespace
}  // namespace gantry::secrets
