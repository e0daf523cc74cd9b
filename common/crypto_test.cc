// Hashing: the incremental hasher agrees with the one-shot digest.
#include "common/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace gantry {
namespace {

// Known vectors, and any split of the input gives the same digest.
TEST(Sha256HasherTest, MatchesOneShot) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 7));
  for (size_t piece : {1u, 63u, 64u, 4096u, 65536u}) {
    Sha256Hasher h;
    for (size_t off = 0; off < data.size(); off += piece) {
      h.Update(std::string_view(data).substr(off, piece));
    }
    EXPECT_EQ(h.bytes(), data.size());
    EXPECT_EQ(h.FinishHex(), Sha256Hex(data)) << piece;
  }
}

// FinishHex starts the hasher over.
TEST(Sha256HasherTest, FinishResets) {
  Sha256Hasher h;
  h.Update("ab");
  h.Update("c");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_EQ(h.FinishHex(), Sha256Hex(""));
  Sha256Hasher moved = std::move(h);
  moved.Update("abc");
  EXPECT_EQ(moved.FinishHex(), Sha256Hex("abc"));
}

}  // namespace
}  // namespace gantry
