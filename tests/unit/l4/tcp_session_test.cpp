// Unit tests for the side choice of a tcp route's connection (the pure part of tcp_session).
#include "proxy/l4/tcp_session.hpp"

#include <gtest/gtest.h>

#include "proxy/router/sticky.hpp"

namespace cutover::l4 {
namespace {

using router::Side;

TEST(ChooseConnectionSide, WeightBoundsWithRandomDraws) {
  for (std::uint64_t r : {0ULL, 1ULL << 40, ~0ULL}) {
    EXPECT_EQ(choose_connection_side(0, false, "127.0.0.1", r), Side::source);
    EXPECT_EQ(choose_connection_side(10000, false, "127.0.0.1", r), Side::target);
  }
  // bucket_of(0) is 0: target at any weight above 0; the top draw is bucket 9999.
  EXPECT_EQ(choose_connection_side(1, false, "", 0), Side::target);
  EXPECT_EQ(choose_connection_side(9999, false, "", ~0ULL), Side::source);
}

TEST(ChooseConnectionSide, StickyClientIpUsesTheHttpBucketAndIgnoresTheDraw) {
  const auto bucket = router::sticky_bucket("127.0.0.1");
  for (std::uint64_t r : {0ULL, 12345ULL, ~0ULL}) {
    EXPECT_EQ(choose_connection_side(static_cast<std::uint16_t>(bucket), true, "127.0.0.1", r), Side::source);
    EXPECT_EQ(choose_connection_side(static_cast<std::uint16_t>(bucket + 1), true, "127.0.0.1", r), Side::target);
  }
}

}  // namespace
}  // namespace cutover::l4
