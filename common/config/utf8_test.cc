#include "common/config/utf8.h"

#include "gtest/gtest.h"

namespace gantry::config {
namespace {

TEST(Utf8Test, ValidText) {
  EXPECT_FALSE(FindInvalidUtf8(""));
  EXPECT_FALSE(FindInvalidUtf8("plain ascii\n"));
  EXPECT_FALSE(FindInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80"));
  EXPECT_FALSE(
      FindInvalidUtf8("\xef\xbb\xbf"
                      "bom"));
  EXPECT_FALSE(FindInvalidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST(Utf8Test, PositionOfTheFirstBadByte) {
  auto e = FindInvalidUtf8("ok\nab\xc3\xa9x\xff");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offset, 8u);
  EXPECT_EQ(e->line, 2);
  EXPECT_EQ(e->column, 6);
  EXPECT_EQ(e->message, "invalid UTF-8: byte 0xff");
}

TEST(Utf8Test, MalformedSequences) {
  for (const char* bad : {"\x80", "\xc0\xaf", "\xc3", "\xe0\x80\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82"}) {
    EXPECT_TRUE(FindInvalidUtf8(bad)) << bad;
  }
}

TEST(Utf8Test, ToValidUtf8ReplacesBadBytes) {
  EXPECT_EQ(ToValidUtf8("a\xffz\xc3\xa9\xe2\x82"), "a?z\xc3\xa9??");
}

}  // namespace
}  // namespace gantry::config
