// The read-your-writes table: a key's side until its expiry, keys apart, a full set overwriting
// the entry that expires first.
#include "proxy/runtime/route_safety.hpp"

#include <gtest/gtest.h>

namespace cutover::runtime {
namespace {

using router::Side;
using namespace std::chrono_literals;

TEST(RywTable, RemembersEachKeysSideUntilItsExpiry) {
  RywTable t;
  const auto now = std::chrono::steady_clock::now();
  const auto a = RywTable::key_hash("alice"), b = RywTable::key_hash("bob");
  EXPECT_FALSE(t.find(a, now));
  t.record(a, Side::source, now + 5s);
  t.record(b, Side::target, now + 2s);
  EXPECT_EQ(t.find(a, now), Side::source);
  EXPECT_EQ(t.find(b, now), Side::target);
  EXPECT_EQ(t.find(a, now + 3s), Side::source);
  EXPECT_FALSE(t.find(b, now + 3s));
  t.record(a, Side::target, now + 10s);  // a later write moves the pin
  EXPECT_EQ(t.find(a, now + 6s), Side::target);
}

TEST(RywTable, AFullSetOverwritesTheEntryExpiringFirst) {
  RywTable t;
  const auto now = std::chrono::steady_clock::now();
  // Hashes in one set (same low bits), different tags.
  const std::uint64_t set_bits = 42;
  auto key = [&](std::uint64_t i) { return (i << 40) | set_bits; };
  for (std::uint64_t i = 1; i <= RywTable::kWays; ++i) t.record(key(i), Side::source, now + std::chrono::seconds(i));
  for (std::uint64_t i = 1; i <= RywTable::kWays; ++i) EXPECT_EQ(t.find(key(i), now), Side::source) << i;
  t.record(key(99), Side::target, now + 60s);
  EXPECT_FALSE(t.find(key(1), now)) << "expired first: overwritten";
  EXPECT_EQ(t.find(key(2), now), Side::source);
  EXPECT_EQ(t.find(key(99), now), Side::target);
}

TEST(RouteSafety, FlagsFollowWhatIsPublished) {
  RouteSafety s;
  EXPECT_EQ(s.flags(), 0u);
  std::vector<config::SegmentConfig> list(1);
  list[0].name = "X-Tenant";
  list[0].values = {"acme"};
  s.set_segments(list);
  EXPECT_EQ(s.flags(), RouteSafety::kHasSegments);
  EXPECT_EQ(s.segments()->list.size(), 1u);
  s.set_maintenance(std::make_shared<const Maintenance>());
  EXPECT_EQ(s.flags(), RouteSafety::kHasSegments | RouteSafety::kInMaintenance);
  s.set_segments({});
  s.set_maintenance(nullptr);
  EXPECT_EQ(s.flags(), 0u);
  EXPECT_TRUE(s.segments_initialized);
}

}  // namespace
}  // namespace cutover::runtime
