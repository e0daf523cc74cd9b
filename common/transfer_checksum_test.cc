#include "common/transfer_checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace gantry {
namespace {

// The values xxhsum -H2 prints for the same input.
TEST(TransferChecksumTest, MatchesXxhsum) {
  EXPECT_EQ(TransferChecksumHex(""), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(TransferChecksumHex("gantry"), "ee6957550ae64d72d3470c9b8e332247");
  TransferChecksum sum;
  sum.Update("gan");
  sum.Update("try");
  EXPECT_EQ(sum.bytes(), 6u);
  EXPECT_EQ(sum.FinishHex(), "ee6957550ae64d72d3470c9b8e332247");
}

TEST(TransferChecksumTest, PiecesGiveTheWholeAndFinishStartsOver) {
  std::mt19937 rng(7);
  std::string data(3 << 20, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  TransferChecksum sum;
  size_t at = 0;
  while (at < data.size()) {
    size_t n = std::min<size_t>(data.size() - at, 1 + rng() % 300000);
    sum.Update(std::string_view(data).substr(at, n));
    at += n;
  }
  EXPECT_EQ(sum.FinishHex(), TransferChecksumHex(data));
  EXPECT_EQ(sum.bytes(), 0u);
  EXPECT_EQ(sum.FinishHex(), TransferChecksumHex(""));
  const std::string before = TransferChecksumHex(data);
  data[12345] ^= 1;  // one bit
  EXPECT_NE(TransferChecksumHex(data), before);
}

}  // namespace
}  // namespace gantry
