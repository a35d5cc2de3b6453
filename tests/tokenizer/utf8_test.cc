#include "engine/tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace llmserve {
namespace {

#define FFFD "\xEF\xBF\xBD"

TEST(Utf8Test, DecodesWellFormedSequences) {
  struct Case {
    std::string bytes;
    int32_t code_point;
  };
  for (const Case& c : std::vector<Case>{{"A", 0x41},
                                         {std::string(1, '\0'), 0},
                                         {"\xC2\x80", 0x80},
                                         {"\xC3\xA9", 0xE9},
                                         {"\xDF\xBF", 0x7FF},
                                         {"\xE0\xA0\x80", 0x800},
                                         {"\xE2\x82\xAC", 0x20AC},
                                         {"\xED\x9F\xBF", 0xD7FF},
                                         {"\xEE\x80\x80", 0xE000},
                                         {"\xF0\x90\x80\x80", 0x10000},
                                         {"\xF0\x9F\x99\x82", 0x1F642},
                                         {"\xF4\x8F\xBF\xBF", 0x10FFFF}}) {
    const Utf8Unit u = DecodeUtf8(c.bytes + "z");
    EXPECT_EQ(u.kind, Utf8Unit::kValid) << c.code_point;
    EXPECT_EQ(u.length, static_cast<int>(c.bytes.size()));
    EXPECT_EQ(u.code_point, c.code_point);
    std::string encoded;
    AppendUtf8(c.code_point, &encoded);
    EXPECT_EQ(encoded, c.bytes);
  }
}

TEST(Utf8Test, ReportsMaximalSubparts) {
  EXPECT_EQ(DecodeUtf8("\x80").kind, Utf8Unit::kInvalid);
  EXPECT_EQ(DecodeUtf8("\xC0\xAF").length, 1);          // C0 never starts a sequence
  EXPECT_EQ(DecodeUtf8("\xE0\x80\xAF").length, 1);      // overlong: 80 is not allowed after E0
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80").length, 1);      // surrogate
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80").length, 1);  // above U+10FFFF
  const Utf8Unit broken = DecodeUtf8("\xF0\x9F\x99x");
  EXPECT_EQ(broken.kind, Utf8Unit::kInvalid);
  EXPECT_EQ(broken.length, 3);
  const Utf8Unit cut = DecodeUtf8("\xF0\x9F\x99");
  EXPECT_EQ(cut.kind, Utf8Unit::kIncomplete);
  EXPECT_EQ(cut.length, 3);
  EXPECT_EQ(DecodeUtf8("\xE2").kind, Utf8Unit::kIncomplete);
}

TEST(Utf8Test, SanitizeMatchesTheUnicodeSubstitutionPractice) {
  // The example of Unicode §3.9 (Table 3-8), and cases checked against
  // Python's bytes.decode("utf-8", "replace"), which follows the same practice.
  EXPECT_EQ(SanitizeUtf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), FFFD FFFD);
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\xAF"), FFFD FFFD FFFD);
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), FFFD FFFD FFFD);
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD);
  EXPECT_EQ(SanitizeUtf8("ab\xF0\x9F\x99"), "ab" FFFD);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x99\x82\xF0\x9F"), "\xF0\x9F\x99\x82" FFFD);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82\xAC\xE2\x82x"), "\xE2\x82\xAC" FFFD "x");
  EXPECT_EQ(SanitizeUtf8("\xFF\xFE\xFD"), FFFD FFFD FFFD);
  const std::string good = "héllo 日本 🙂 \xF4\x8F\xBF\xBF";
  EXPECT_EQ(SanitizeUtf8(good), good);
  EXPECT_TRUE(IsValidUtf8(good));
  EXPECT_FALSE(IsValidUtf8("ab\xF0\x9F\x99"));
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8("\xC0\xAF\xF0\x9F")));
}

TEST(Utf8Test, AppendReplacesNonScalarValues) {
  for (int32_t bad : {-1, 0xD800, 0xDFFF, 0x110000}) {
    std::string out;
    AppendUtf8(bad, &out);
    EXPECT_EQ(out, FFFD) << bad;
  }
}

}  // namespace
}  // namespace llmserve
