// The read-your-writes cookie: what cutover signed is honoured until its expiry; a forged,
// altered, expired or foreign one is ignored.
#include "proxy/router/ryw_cookie.hpp"

#include <array>

#include <gtest/gtest.h>

namespace cutover::router {
namespace {

const std::array<unsigned char, 32> kKey{1, 2, 3};
const std::array<unsigned char, 32> kOtherKey{9, 9, 9};
constexpr std::int64_t kNow = 1'700'000'000'000;

TEST(RywCookie, SignedValueNamesItsSideUntilItExpires) {
  const auto v = ryw_cookie_value(kKey, "app", Side::source, kNow + 5000);
  EXPECT_EQ(ryw_cookie_side(kKey, "app", v, kNow), Side::source);
  EXPECT_EQ(ryw_cookie_side(kKey, "app", v, kNow + 4999), Side::source);
  EXPECT_FALSE(ryw_cookie_side(kKey, "app", v, kNow + 5000));
  EXPECT_EQ(ryw_cookie_side(kKey, "app", ryw_cookie_value(kKey, "app", Side::target, kNow + 1), kNow), Side::target);
}

TEST(RywCookie, ForgedOrAlteredValuesAreIgnored) {
  const auto v = ryw_cookie_value(kKey, "app", Side::source, kNow + 5000);
  std::string side = v;
  side[0] = 't';  // the other side under the same MAC
  EXPECT_FALSE(ryw_cookie_side(kKey, "app", side, kNow));
  std::string later = v;
  later.replace(2, 13, std::to_string(kNow + 9'000'000));  // a longer pin under the same MAC
  EXPECT_FALSE(ryw_cookie_side(kKey, "app", later, kNow));
  std::string mac = v;
  mac.back() = mac.back() == '0' ? '1' : '0';
  EXPECT_FALSE(ryw_cookie_side(kKey, "app", mac, kNow));
  EXPECT_FALSE(ryw_cookie_side(kOtherKey, "app", v, kNow)) << "another process's key";
  EXPECT_FALSE(ryw_cookie_side(kKey, "api", v, kNow)) << "another route";
  for (std::string_view junk : {"", "s", "s.", "s.1.", "x.1.00", "s.abc.00000000000000000000000000000000", "source"})
    EXPECT_FALSE(ryw_cookie_side(kKey, "app", junk, kNow)) << junk;
}

TEST(RywCookie, ProcessKeyIsStable) {
  auto a = ryw_process_key();
  auto b = ryw_process_key();
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(a.size(), 32u);
}

}  // namespace
}  // namespace cutover::router
