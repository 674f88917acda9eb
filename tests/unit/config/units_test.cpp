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

TEST(ParseLongDuration, AddsHoursAndDaysToTheShortUnits) {
  EXPECT_EQ(parse_long_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_long_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_long_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_long_duration("12h"), milliseconds(12LL * 3600 * 1000));
  EXPECT_EQ(parse_long_duration("30d"), milliseconds(30LL * 24 * 3600 * 1000));
  EXPECT_EQ(parse_long_duration("0d"), milliseconds(0));
  for (const char* bad : {"", "5", "d", "h", "-1d", "1.5d", "1 d", "1D", "1H", "1w", "1y", "1dh", "1d1h",
                          "99999999999999999999d", "200000000000d"}) {
    EXPECT_FALSE(parse_long_duration(bad).has_value()) << bad;
  }
  // parse_duration itself still refuses hours and days (timeouts, ramp intervals).
  EXPECT_FALSE(parse_duration("1h").has_value());
  EXPECT_FALSE(parse_duration("1d").has_value());
}

TEST(ParseCidr, AcceptsIPv4AndIPv6NetworksAndBareAddresses) {
  auto c = parse_cidr("127.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->ipv6);
  EXPECT_EQ(c->prefix, 8u);
  EXPECT_FALSE(c->host_bits_set);
  EXPECT_EQ(c->canonical, "127.0.0.0/8");

  c = parse_cidr("::1/128");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->ipv6);
  EXPECT_EQ(c->prefix, 128u);
  EXPECT_EQ(c->canonical, "::1/128");

  // A bare address is a single host.
  EXPECT_EQ(parse_cidr("10.1.2.3")->canonical, "10.1.2.3/32");
  EXPECT_EQ(parse_cidr("10.1.2.3")->prefix, 32u);
  EXPECT_EQ(parse_cidr("2001:db8::1")->canonical, "2001:db8::1/128");
  // Canonical IPv6 text.
  EXPECT_EQ(parse_cidr("2001:DB8:0:0:0::/32")->canonical, "2001:db8::/32");
  EXPECT_EQ(parse_cidr("0.0.0.0/0")->canonical, "0.0.0.0/0");
  EXPECT_EQ(parse_cidr("::/0")->canonical, "::/0");
  EXPECT_EQ(parse_cidr("10.0.0.0/32")->canonical, "10.0.0.0/32");
  EXPECT_EQ(parse_cidr("::ffff:10.0.0.0/104")->canonical, "::ffff:10.0.0.0/104");
}

TEST(ParseCidr, ReportsHostBitsWithTheNetworkTheyWouldMean) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->host_bits_set);
  EXPECT_EQ(c->canonical, "10.0.0.0/8");
  c = parse_cidr("10.7.255.255/13");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->host_bits_set);
  EXPECT_EQ(c->canonical, "10.0.0.0/13");
  c = parse_cidr("2001:db8:ffff::1/33");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->host_bits_set);
  EXPECT_EQ(c->canonical, "2001:db8:8000::/33");
  c = parse_cidr("1.2.3.4/0");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->host_bits_set);
  EXPECT_EQ(c->canonical, "0.0.0.0/0");
  EXPECT_FALSE(parse_cidr("10.0.0.0/7")->host_bits_set);
  EXPECT_FALSE(parse_cidr("10.8.0.0/13")->host_bits_set);
}

TEST(ParseCidr, RejectsMalformed) {
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/08", "10.0.0.0/-1",
                          "10.0.0.0/+8", "10.0.0.0/8/8", "10.0.0/8", "010.0.0.0/8", "1.2.3.4.5", "[::1]/128",
                          "fe80::1%eth0/64", "localhost/32", "10.0.0.0 /8", " 10.0.0.0/8", "10.0.0.0/8 ",
                          "10.0.0.0/1000", "::1/", "10.0.0.0/0x8", "256.0.0.0/8"}) {
    EXPECT_FALSE(parse_cidr(bad).has_value()) << "'" << bad << "'";
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
