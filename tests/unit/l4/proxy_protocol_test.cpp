// Unit tests for the PROXY protocol header encoder (v1 text, v2 binary), byte for byte.
#include "proxy/l4/proxy_protocol.hpp"

#include <gtest/gtest.h>

namespace cutover::l4 {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

tcp::endpoint ep(const char* addr, unsigned short port) { return {make_address(addr), port}; }

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

const std::string kSig = bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});

TEST(ProxyProtocolV1, Ipv4) {
  EXPECT_EQ(proxy_header_v1(ep("192.168.0.1", 56324), ep("10.0.0.2", 443)),
            "PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n");
}

TEST(ProxyProtocolV1, Ipv6AndMappedIpv4) {
  EXPECT_EQ(proxy_header_v1(ep("2001:db8::1", 1), ep("::1", 65535)), "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n");
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: sent as TCP4.
  EXPECT_EQ(proxy_header_v1(ep("::ffff:127.0.0.1", 4000), ep("::ffff:127.0.0.2", 5433)),
            "PROXY TCP4 127.0.0.1 127.0.0.2 4000 5433\r\n");
  EXPECT_EQ(proxy_header_v1(ep("127.0.0.1", 4000), ep("::1", 5433)), "PROXY UNKNOWN\r\n");
}

TEST(ProxyProtocolV1, LongestHeaderFitsTheSpecLimit) {
  auto h = proxy_header_v1(ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535),
                           ep("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
  EXPECT_LE(h.size(), 107u);
}

TEST(ProxyProtocolV2, Ipv4ByteExact) {
  const std::string want = kSig + bytes({0x21, 0x11, 0x00, 0x0C,   // PROXY, TCP4, 12 bytes follow
                                         192, 168, 0, 1, 10, 0, 0, 2,  // src, dst
                                         0xDC, 0x04, 0x01, 0xBB});      // 56324, 443
  EXPECT_EQ(proxy_header_v2(ep("192.168.0.1", 56324), ep("10.0.0.2", 443)), want);
}

TEST(ProxyProtocolV2, Ipv6ByteExact) {
  std::string want = kSig + bytes({0x21, 0x21, 0x00, 0x24});  // PROXY, TCP6, 36 bytes follow
  want += bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});  // 2001:db8::1
  want += bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});              // ::1
  want += bytes({0x00, 0x50, 0xFF, 0xFF});                                          // 80, 65535
  const auto got = proxy_header_v2(ep("2001:db8::1", 80), ep("::1", 65535));
  EXPECT_EQ(got.size(), 16u + 36u);
  EXPECT_EQ(got, want);
}

TEST(ProxyProtocolV2, MappedIpv4IsTcp4AndMixedFamiliesAreUnspec) {
  EXPECT_EQ(proxy_header_v2(ep("::ffff:127.0.0.1", 1), ep("127.0.0.1", 2)),
            kSig + bytes({0x21, 0x11, 0x00, 0x0C, 127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2}));
  EXPECT_EQ(proxy_header_v2(ep("127.0.0.1", 1), ep("::1", 2)), kSig + bytes({0x21, 0x00, 0x00, 0x00}));
}

TEST(ProxyProtocol, DispatchByVersion) {
  const auto c = ep("127.0.0.1", 1), p = ep("127.0.0.1", 2);
  EXPECT_EQ(proxy_header(config::ProxyProtocol::none, c, p), "");
  EXPECT_EQ(proxy_header(config::ProxyProtocol::v1, c, p), proxy_header_v1(c, p));
  EXPECT_EQ(proxy_header(config::ProxyProtocol::v2, c, p), proxy_header_v2(c, p));
}

}  // namespace
}  // namespace cutover::l4
