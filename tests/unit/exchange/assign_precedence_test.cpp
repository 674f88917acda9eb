// The order of the side rules: force, then tenant segments, then read-your-writes (reads only),
// then the sticky key, then the random draw; and read-your-writes identities (sticky key or cookie).
#include "proxy/exchange/assign.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "config/segments.hpp"
#include "proxy/router/ryw_cookie.hpp"
#include "proxy/router/sticky.hpp"
#include "proxy/runtime/route_safety.hpp"

namespace cutover::exchange {
namespace {

namespace bhttp = boost::beast::http;
namespace ip = boost::asio::ip;
using router::Kind;
using router::Side;

const ip::address kTester = ip::make_address("127.0.0.1");
const ip::address kOffice = ip::make_address("10.1.2.3");
const ip::address kPublic = ip::make_address("203.0.113.9");

std::shared_ptr<const router::Segments> segments(std::string_view json) {
  std::vector<config::SegmentConfig> list;
  auto problem = config::parse_segments(boost::json::parse(json), list);
  EXPECT_FALSE(problem) << problem->message;
  return runtime::compile_segments(list);
}

// A route with every rule: force for loopback testers, sticky by X-User-Id.
runtime::Route full_route() {
  runtime::Route r;
  r.name = "app";
  r.force.header = "X-Cutover-Side";
  r.force.allow_v4.push_back(ip::make_network_v4("127.0.0.0/8"));
  r.sticky.sources = {{config::StickySource::Kind::header, "X-User-Id"}};
  return r;
}

// X-Tenant acme goes to target; the office network to source.
const auto kSegments = segments(R"([{"header": "X-Tenant", "values": ["acme"], "side": "target"},
                                    {"client_cidrs": ["10.0.0.0/8"], "side": "source"}])");

TEST(AssignPrecedence, ForceBeatsSegments) {
  auto r = full_route();
  bhttp::fields f;
  f.set("X-Tenant", "acme");
  f.set("X-Cutover-Side", "source");
  auto a = assign_side(r, Kind::read, {0, 0}, f, "127.0.0.1", kTester, 0, kSegments.get(), Side::target);
  EXPECT_EQ(a.reason, Reason::force);
  EXPECT_EQ(a.side, Side::source);
}

TEST(AssignPrecedence, SegmentsBeatReadYourWritesStickyAndWeight) {
  auto r = full_route();
  bhttp::fields f;
  f.set("X-Tenant", "acme");
  f.set("X-User-Id", "u1");
  for (auto kind : {Kind::read, Kind::write}) {
    auto a = assign_side(r, kind, {0, 0}, f, "203.0.113.9", kPublic, 0, kSegments.get(), Side::source);
    EXPECT_EQ(a.reason, Reason::segment);
    EXPECT_EQ(a.side, Side::target) << "weight 0, yet the listed tenant goes to target";
    EXPECT_EQ(a.segment, 0u);
  }
  f.set("X-Tenant", "initech");  // not listed: the weights decide again
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "203.0.113.9", kPublic, 0, kSegments.get()).side, Side::source);
  // The first matching segment wins: the office network's segment is second.
  f.set("X-Tenant", "acme");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "10.1.2.3", kOffice, 0, kSegments.get()).side, Side::target);
  f.erase("X-Tenant");
  auto office = assign_side(r, Kind::read, {10000, 10000}, f, "10.1.2.3", kOffice, 0, kSegments.get());
  EXPECT_EQ(office.side, Side::source);
  EXPECT_EQ(office.segment, 1u);
}

TEST(AssignPrecedence, ReadYourWritesBeatsStickyForReadsOnly) {
  auto r = full_route();
  bhttp::fields f;
  f.set("X-User-Id", "u1");
  auto read = assign_side(r, Kind::read, {10000, 0}, f, "203.0.113.9", kPublic, 0, nullptr, Side::source);
  EXPECT_EQ(read.reason, Reason::read_your_writes);
  EXPECT_EQ(read.side, Side::source) << "read weight 100, but the user's write went to source";
  auto write = assign_side(r, Kind::write, {10000, 10000}, f, "203.0.113.9", kPublic, 0, nullptr, Side::source);
  EXPECT_EQ(write.reason, Reason::sticky);
  EXPECT_EQ(write.side, Side::target);
  auto later = assign_side(r, Kind::read, {10000, 0}, f, "203.0.113.9", kPublic, 0, nullptr, std::nullopt);
  EXPECT_EQ(later.reason, Reason::sticky);
  EXPECT_EQ(later.side, Side::target);
}

TEST(AssignPrecedence, StickyBeatsTheRandomDraw) {
  runtime::Route r;
  bhttp::fields f;
  auto random = assign_side(r, Kind::read, {5000, 5000}, f, "203.0.113.9", kPublic, ~0ull);
  EXPECT_EQ(random.reason, Reason::weight);
  r.sticky.sources = {{config::StickySource::Kind::header, "X-User-Id"}};
  f.set("X-User-Id", "u1");
  auto sticky = assign_side(r, Kind::read, {5000, 5000}, f, "203.0.113.9", kPublic, ~0ull);
  EXPECT_EQ(sticky.reason, Reason::sticky);
  EXPECT_EQ(sticky.bucket, router::sticky_bucket("u1"));
}

TEST(AssignPrecedence, SegmentsByCookieAndPrefix) {
  runtime::Route r;
  auto s = segments(R"([{"cookie": "plan", "prefix": "beta-", "side": "target"}])");
  bhttp::fields f;
  f.set(bhttp::field::cookie, "a=1; plan=beta-2024");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "", kPublic, 0, s.get()).side, Side::target);
  f.set(bhttp::field::cookie, "plan=gamma");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "", kPublic, 0, s.get()).reason, Reason::weight);
}

TEST(AssignPrecedence, TenThousandValuesAreOneHashSet) {
  std::vector<config::SegmentConfig> list(1);
  list[0].name = "X-Tenant";
  list[0].to_target = true;
  for (int i = 0; i < 10000; ++i) list[0].values.push_back("tenant-" + std::to_string(i));
  auto compiled = runtime::compile_segments(list);
  ASSERT_EQ(compiled->list[0].values.size(), 10000u);
  runtime::Route r;
  bhttp::fields f;
  f.set("X-Tenant", "tenant-9999");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "", kPublic, 0, compiled.get()).side, Side::target);
  f.set("X-Tenant", "tenant-10000");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "", kPublic, 0, compiled.get()).side, Side::source);
}

TEST(RywPin, StickyKeyUsesTheTableElseTheSignedCookie) {
  auto r = full_route();
  r.ryw.enabled = true;
  runtime::RywTable table;
  r.ryw_table = &table;
  const auto now = std::chrono::steady_clock::now();
  bhttp::fields f;
  f.set("X-User-Id", "u1");
  auto write = ryw_pin(r, Kind::write, f, "203.0.113.9", now, 0);
  ASSERT_TRUE(write.key_hash);
  EXPECT_FALSE(write.side);
  table.record(*write.key_hash, Side::source, now + std::chrono::seconds(5));
  EXPECT_EQ(ryw_pin(r, Kind::read, f, "203.0.113.9", now, 0).side, Side::source);
  EXPECT_FALSE(ryw_pin(r, Kind::read, f, "203.0.113.9", now + std::chrono::seconds(6), 0).side) << "expired";
  f.set("X-User-Id", "u2");
  EXPECT_FALSE(ryw_pin(r, Kind::read, f, "203.0.113.9", now, 0).side) << "another user";

  // Without a sticky key: the cookie, checked against the route and the clock.
  f.erase("X-User-Id");
  const std::int64_t t = 1'700'000'000'000;
  const auto value = router::ryw_cookie_value(router::ryw_process_key(), "app", Side::target, t + 5000);
  f.set(bhttp::field::cookie, "cutover_ryw=" + value);
  r.ryw_table = nullptr;
  r.sticky.sources.clear();
  auto pin = ryw_pin(r, Kind::read, f, "203.0.113.9", now, t);
  EXPECT_FALSE(pin.key_hash);
  EXPECT_EQ(pin.side, Side::target);
  EXPECT_FALSE(ryw_pin(r, Kind::read, f, "203.0.113.9", now, t + 5000).side) << "expired";
  r.name = "other";
  EXPECT_FALSE(ryw_pin(r, Kind::read, f, "203.0.113.9", now, t).side) << "signed for another route";
}

}  // namespace
}  // namespace cutover::exchange
