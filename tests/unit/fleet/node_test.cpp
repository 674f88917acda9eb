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

TEST(RouteValue, CarriesAWriteHold) {
  auto plain = decode_route_value(encode_route_value({2500, 0, 3, "edge-1"}));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->writes_held);  // values from before holds were shared read as not held
  auto held = decode_route_value(encode_route_value({2500, 0, 4, "edge-1", true, 41}));
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->writes_held);
  EXPECT_EQ(held->hold_revision, 41);
  // The value that raises a hold has no revision yet: its own mod_revision stands for it.
  auto raising = decode_route_value(encode_route_value({2500, 0, 4, "edge-1", true, 0}));
  ASSERT_TRUE(raising);
  EXPECT_TRUE(raising->writes_held);
  EXPECT_EQ(raising->hold_revision, 0);
  // A hold revision without a hold means nothing.
  auto stray = decode_route_value(R"({"read_bp": 1, "write_bp": 0, "generation": 2, "hold_revision": 9})");
  ASSERT_TRUE(stray);
  EXPECT_EQ(stray->hold_revision, 0);
}

TEST(DrainReport, RoundTripsAndRefusesWhatIsNotOne) {
  auto back = decode_drain_report(encode_drain_report({true, 12, 3, 1, false}));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->reported);
  EXPECT_EQ(back->hold_revision, 12);
  EXPECT_EQ(back->in_flight_at_hold, 3);
  EXPECT_EQ(back->in_flight_remaining, 1);
  EXPECT_FALSE(back->drained);
  EXPECT_FALSE(decode_drain_report("{}"));
  EXPECT_FALSE(decode_drain_report(
      R"({"hold_revision": 1, "in_flight_at_hold": -1, "in_flight_remaining": 0, "drained": true})"));
  EXPECT_FALSE(decode_drain_report(
      R"({"hold_revision": 1, "in_flight_at_hold": 0, "in_flight_remaining": 0, "drained": 1})"));
}

}  // namespace
}  // namespace cutover::fleet
