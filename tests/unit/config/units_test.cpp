// Unit tests for config/units.hpp: the value syntaxes shared by the config file and admin API.
#include "config/units.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace cutover::config {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsIntegerAmountsWithUnit) {
  EXPECT_EQ(parse_duration("0ms"), milliseconds(0));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("90s"), milliseconds(90000));
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (const char* bad : {"", "5", "s", "ms", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "5sec",
                          "5h", "5S", "5MS", "1e3ms", "0x10s", "5ms5", "99999999999999999999s"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(ParseSize, AcceptsBytesAndBinaryUnits) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size("2GiB"), 2ull * 1024 * 1024 * 1024);
}

TEST(ParseSize, RejectsEverythingElse) {
  for (const char* bad : {"", "KiB", "1KB", "1kib", "1 MiB", "-1", "1.5MiB", "1TiB", "1M",
                          "99999999999999999999", "17179869184GiB"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

TEST(PercentToBp, ConvertsHundredthsOfAPercent) {
  EXPECT_EQ(percent_to_bp(0), 0u);
  EXPECT_EQ(percent_to_bp(100), 10000u);
  EXPECT_EQ(percent_to_bp(10.25), 1025u);
  EXPECT_EQ(percent_to_bp(0.01), 1u);
  // Not exact in binary floating point; must still land on the intended basis point.
  EXPECT_EQ(percent_to_bp(0.07), 7u);
  EXPECT_EQ(percent_to_bp(33.33), 3333u);
  EXPECT_EQ(percent_to_bp(99.99), 9999u);
}

TEST(PercentToBp, RejectsOutOfRangeAndTooFine) {
  EXPECT_FALSE(percent_to_bp(10.255).has_value());
  EXPECT_FALSE(percent_to_bp(0.001).has_value());
  EXPECT_FALSE(percent_to_bp(100.01).has_value());
  EXPECT_FALSE(percent_to_bp(101).has_value());
  EXPECT_FALSE(percent_to_bp(-1).has_value());
  EXPECT_FALSE(percent_to_bp(-0.01).has_value());
  EXPECT_FALSE(percent_to_bp(std::nan("")).has_value());
  EXPECT_FALSE(percent_to_bp(std::numeric_limits<double>::infinity()).has_value());
}

TEST(ParseHostPort, SplitsIPv4NamesAndBracketedIPv6) {
  auto a = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->text, "127.0.0.1:8080");

  auto b = parse_host_port("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->text, "[::1]:80");

  auto c = parse_host_port("localhost:80");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "localhost");

  auto d = parse_host_port("app-1.internal.example.com:65535");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "app-1.internal.example.com");
  EXPECT_EQ(d->port, 65535);

  auto e = parse_host_port("0.0.0.0:0");  // port 0: the listener picks a free port
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, 0);

  auto f = parse_host_port("[2001:db8::5]:443");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->host, "2001:db8::5");
}

TEST(ParseHostPort, RejectsMalformed) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:65536",
                          "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:80a", "127.0.0.1: 80",
                          "::1:80", "[::1]80", "[::1]:", "[::1", "[not-v6]:80", "999.1.1.1:80",
                          "1.2.3:80", "bad host:80", "-leading.example:80", "under_score:80",
                          "127.0.0.1:0080000"}) {
    EXPECT_FALSE(parse_host_port(bad).has_value()) << bad;
  }
}

TEST(IsLoopbackHost, OnlyAddressesThisMachineAlone) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "LocalHost", "::ffff:127.0.0.1"})
    EXPECT_TRUE(is_loopback_host(yes)) << yes;
  for (const char* no : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "localhost.example.com",
                         "::ffff:10.0.0.1", ""})
    EXPECT_FALSE(is_loopback_host(no)) << no;
}

}  // namespace
}  // namespace cutover::config
