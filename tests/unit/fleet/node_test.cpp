// The route value a fleet node stores in etcd: written and read back, and what is refused.
#include "fleet/node.hpp"

#include <gtest/gtest.h>

namespace cutover::fleet {
namespace {

TEST(RouteValue, RoundTrips) {
  RouteValue v{2500, 10000, 7, "edge-1"};
  auto back = decode_route_value(encode_route_value(v));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->read_bp, 2500);
  EXPECT_EQ(back->write_bp, 10000);
  EXPECT_EQ(back->generation, 7u);
  EXPECT_EQ(back->by, "edge-1");
}

TEST(RouteValue, RefusesWhatIsNotOne) {
  EXPECT_FALSE(decode_route_value("not json"));
  EXPECT_FALSE(decode_route_value("[]"));
  EXPECT_FALSE(decode_route_value(R"({"read_bp": 10001, "write_bp": 0, "generation": 1})"));
  EXPECT_FALSE(decode_route_value(R"({"read_bp": -1, "write_bp": 0, "generation": 1})"));
  EXPECT_FALSE(decode_route_value(R"({"read_bp": 1, "write_bp": 0})"));
  EXPECT_TRUE(decode_route_value(R"({"read_bp": 1, "write_bp": 0, "generation": 0})"));
}

}  // namespace
}  // namespace cutover::fleet
