// Side assignment as a pure function: forced side from allowed clients only, sticky sources in
// config order, the pin cookie carrying a bucket, reads and writes sharing a user's bucket.
#include "proxy/exchange/assign.hpp"

#include <gtest/gtest.h>

#include "proxy/router/sticky.hpp"

namespace cutover::exchange {
namespace {

namespace bhttp = boost::beast::http;
namespace ip = boost::asio::ip;
using router::Kind;
using router::Side;
using Source = config::StickySource;

const ip::address kLoopback = ip::make_address("127.0.0.1");
const ip::address kOutside = ip::make_address("203.0.113.9");

runtime::Route sticky_route(std::vector<Source> sources, std::string pin_cookie = "") {
  runtime::Route r;
  r.name = "app";
  r.sticky.sources = std::move(sources);
  r.sticky.pin_cookie = std::move(pin_cookie);
  return r;
}

TEST(Assign, ForcedSideOnlyFromAllowedClients) {
  runtime::Route r;
  r.force.header = "X-Cutover-Side";
  r.force.allow_v4.push_back(ip::make_network_v4("127.0.0.0/8"));
  bhttp::fields f;
  f.set("X-Cutover-Side", "target");
  auto a = assign_side(r, Kind::read, {0, 0}, f, "127.0.0.1", kLoopback, 0);
  EXPECT_TRUE(a.forced);
  EXPECT_EQ(a.side, Side::target);
  a = assign_side(r, Kind::write, {10000, 10000}, f, "203.0.113.9", kOutside, 0);
  EXPECT_FALSE(a.forced);
  EXPECT_EQ(a.side, Side::target) << "ignored: the weight (100) decides";
  f.set("X-Cutover-Side", "sideways");
  EXPECT_FALSE(assign_side(r, Kind::read, {0, 0}, f, "127.0.0.1", kLoopback, 0).forced);
}

TEST(Assign, ForcedByCookie) {
  runtime::Route r;
  r.force.cookie = "cutover_force";
  r.force.allow_v4.push_back(ip::make_network_v4("127.0.0.0/8"));
  bhttp::fields f;
  f.set(bhttp::field::cookie, "a=1; cutover_force=source");
  auto a = assign_side(r, Kind::read, {10000, 10000}, f, "127.0.0.1", kLoopback, 0);
  EXPECT_TRUE(a.forced);
  EXPECT_EQ(a.side, Side::source);
}

TEST(Assign, StickyKeyDecidesAndReadsAndWritesShareTheBucket) {
  auto r = sticky_route({{Source::Kind::header, "X-User-Id"}});
  bhttp::fields f;
  f.set("X-User-Id", "user-42");
  const auto bucket = router::sticky_bucket("user-42");
  for (std::uint64_t random : {0ull, ~0ull}) {  // the random value must not matter
    auto read = assign_side(r, Kind::read, {5000, 5000}, f, "127.0.0.1", kLoopback, random);
    auto write = assign_side(r, Kind::write, {5000, 5000}, f, "127.0.0.1", kLoopback, random);
    EXPECT_EQ(read.bucket, bucket);
    EXPECT_EQ(read.side, write.side);
    EXPECT_EQ(read.side, bucket < 5000 ? Side::target : Side::source);
    EXPECT_FALSE(read.pin_bucket);
  }
}

TEST(Assign, FirstPresentSourceInConfigOrderWins) {
  auto r = sticky_route({{Source::Kind::cookie, "uid"}, {Source::Kind::header, "X-User-Id"}, {Source::Kind::client_ip, ""}});
  bhttp::fields f;
  f.set("X-User-Id", "from-header");
  f.set(bhttp::field::cookie, "uid=from-cookie");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "10.1.2.3", kLoopback, 0).bucket, router::sticky_bucket("from-cookie"));
  f.erase(bhttp::field::cookie);
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "10.1.2.3", kLoopback, 0).bucket, router::sticky_bucket("from-header"));
  f.erase("X-User-Id");
  EXPECT_EQ(assign_side(r, Kind::read, {0, 0}, f, "10.1.2.3", kLoopback, 0).bucket, router::sticky_bucket("10.1.2.3"));
}

TEST(Assign, NoKeyPinsARandomBucketAndThePinCookieCarriesItBack) {
  auto r = sticky_route({{Source::Kind::header, "X-User-Id"}}, "cutover_bucket");
  bhttp::fields none;
  auto first = assign_side(r, Kind::read, {2500, 2500}, none, "127.0.0.1", kLoopback, 0x12345678ULL << 32);
  ASSERT_TRUE(first.pin_bucket);
  EXPECT_EQ(*first.pin_bucket, router::bucket_of(0x12345678ULL << 32));

  bhttp::fields back;
  back.set(bhttp::field::cookie, "cutover_bucket=" + std::to_string(*first.pin_bucket));
  auto again = assign_side(r, Kind::read, {2500, 2500}, back, "127.0.0.1", kLoopback, ~0ull);
  EXPECT_EQ(again.bucket, *first.pin_bucket);
  EXPECT_FALSE(again.pin_bucket);

  bhttp::fields low;  // the bucket, not the side, is pinned: a raised weight moves the user
  low.set(bhttp::field::cookie, "cutover_bucket=3000");
  EXPECT_EQ(assign_side(r, Kind::read, {2500, 2500}, low, "", kLoopback, 0).side, Side::source);
  EXPECT_EQ(assign_side(r, Kind::read, {3001, 3001}, low, "", kLoopback, 0).side, Side::target);
}

TEST(Assign, WithoutStickyTheRandomDrawDecides) {
  runtime::Route r;
  bhttp::fields f;
  EXPECT_EQ(assign_side(r, Kind::read, {5000, 0}, f, "", kLoopback, 0).side, Side::target);
  EXPECT_EQ(assign_side(r, Kind::read, {5000, 0}, f, "", kLoopback, ~0ull).side, Side::source);
  EXPECT_EQ(assign_side(r, Kind::write, {5000, 0}, f, "", kLoopback, 0).side, Side::source);
}

}  // namespace
}  // namespace cutover::exchange
