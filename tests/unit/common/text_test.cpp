#include "common/methods.hpp"
#include "common/text.hpp"

#include <gtest/gtest.h>

namespace cutover::common {
namespace {

TEST(Text, LowerTouchesOnlyAsciiLetters) {
  EXPECT_EQ(to_lower("Content-TYPE: X/Y 09 \xc3\x84"), "content-type: x/y 09 \xc3\x84");
  EXPECT_EQ(ascii_lower('@'), '@');
  EXPECT_EQ(ascii_lower('['), '[');
}

TEST(Text, IequalsIsAsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("WebSocket", "websocket"));
  EXPECT_FALSE(iequals("websocket", "websockets"));
  EXPECT_FALSE(iequals("a@", "a`"));  // '@' + 32 is '`': not letters, not equal
  EXPECT_TRUE(iequals("", ""));
}

TEST(Text, TrimRemovesOnlySpaceAndTab) {
  EXPECT_EQ(trim(" \t a b \t"), "a b");
  EXPECT_EQ(trim("\r\na\r\n"), "\r\na\r\n");
  EXPECT_EQ(trim("  "), "");
}

TEST(Text, AllDigitsRefusesSignsSpacesAndEmpty) {
  EXPECT_TRUE(all_digits("0123"));
  EXPECT_FALSE(all_digits(""));
  EXPECT_FALSE(all_digits("+1"));
  EXPECT_FALSE(all_digits("1 "));
  EXPECT_FALSE(all_digits("1e3"));
}

TEST(Text, TokenIsRfc9110Tchar) {
  EXPECT_TRUE(is_token("X-User_Id.v2~!#$%&'*+^`|"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_FALSE(is_token("a\"b"));
}

TEST(Methods, SafeAndIdempotent) {
  using boost::beast::http::verb;
  EXPECT_TRUE(is_safe_method("GET"));
  EXPECT_FALSE(is_safe_method("get"));
  EXPECT_FALSE(is_safe_method("POST"));
  EXPECT_TRUE(is_safe_method(verb::options));
  EXPECT_FALSE(is_safe_method(verb::put));
  EXPECT_TRUE(is_idempotent(verb::put));
  EXPECT_TRUE(is_idempotent(verb::delete_));
  EXPECT_FALSE(is_idempotent(verb::post));
  EXPECT_FALSE(is_idempotent(verb::patch));
}

}  // namespace
}  // namespace cutover::common
