// Captured header fields: names lower-cased, values and order kept, all in one buffer that
// survives growth.
#include "proxy/shadow/header_list.hpp"

#include <string>

#include <gtest/gtest.h>

namespace cutover::shadow {
namespace {

TEST(HeaderList, KeepsOrderAndValuesAndLowerCasesNames) {
  HeaderList h;
  EXPECT_TRUE(h.empty());
  h.add("Content-Type", "Application/JSON");
  h.add("X-ÄB-Id", " spaced value ");  // non-ASCII bytes untouched
  h.add("set-cookie", "");
  h.add("Set-Cookie", "b=2");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], (HeaderList::Field{"content-type", "Application/JSON"}));
  EXPECT_EQ(h[1], (HeaderList::Field{"x-Äb-id", " spaced value "}));
  EXPECT_EQ(h[2], (HeaderList::Field{"set-cookie", ""}));
  EXPECT_EQ(h[3], (HeaderList::Field{"set-cookie", "b=2"}));
}

TEST(HeaderList, ViewsStayRightAcrossGrowthAndClearEmpties) {
  HeaderList h;
  h.reserve(1, 4);  // far too small: the buffer moves many times
  for (int i = 0; i < 500; ++i) h.add("X-N" + std::to_string(i), std::string(static_cast<std::size_t>(i % 40), 'v'));
  ASSERT_EQ(h.size(), 500u);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(h[static_cast<std::size_t>(i)].name, "x-n" + std::to_string(i));
    EXPECT_EQ(h[static_cast<std::size_t>(i)].value, std::string(static_cast<std::size_t>(i % 40), 'v'));
  }
  h.clear();
  EXPECT_TRUE(h.empty());
  h.add("A", "1");
  EXPECT_EQ(h[0], (HeaderList::Field{"a", "1"}));
}

TEST(HeaderList, FromALiteral) {
  const HeaderList h{{"ETag", "\"1\""}, {"vary", "accept"}};
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (HeaderList::Field{"etag", "\"1\""}));
  EXPECT_EQ(h[1], (HeaderList::Field{"vary", "accept"}));
}

}  // namespace
}  // namespace cutover::shadow
