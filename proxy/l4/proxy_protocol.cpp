// PROXY protocol v1/v2 headers: see proxy_protocol.hpp.
#include "proxy/l4/proxy_protocol.hpp"

#include <array>
#include <cstdint>

#include <fmt/format.h>

namespace cutover::l4 {

namespace {

using boost::asio::ip::address;
using boost::asio::ip::tcp;

constexpr std::array<unsigned char, 12> kV2Signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr unsigned char kV2ProxyCommand = 0x21;  // version 2 (high nibble), PROXY (low nibble)
constexpr unsigned char kTcp4 = 0x11;            // AF_INET (high nibble), STREAM (low nibble)
constexpr unsigned char kTcp6 = 0x21;            // AF_INET6, STREAM
constexpr unsigned char kUnspec = 0x00;

// An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 client) as IPv4.
address unmapped(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

void put_port(std::string& out, std::uint16_t port) {
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xff));
}

template <class Bytes>
void put_bytes(std::string& out, const Bytes& bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

std::string proxy_header_v1(const tcp::endpoint& client, const tcp::endpoint& proxy) {
  const address src = unmapped(client.address());
  const address dst = unmapped(proxy.address());
  if (src.is_v4() != dst.is_v4()) return "PROXY UNKNOWN\r\n";
  return fmt::format("PROXY {} {} {} {} {}\r\n", src.is_v4() ? "TCP4" : "TCP6", src.to_string(), dst.to_string(),
                     client.port(), proxy.port());
}

std::string proxy_header_v2(const tcp::endpoint& client, const tcp::endpoint& proxy) {
  const address src = unmapped(client.address());
  const address dst = unmapped(proxy.address());
  std::string out;
  out.reserve(16 + 36);
  put_bytes(out, kV2Signature);
  out.push_back(static_cast<char>(kV2ProxyCommand));
  if (src.is_v4() != dst.is_v4()) {
    out.push_back(static_cast<char>(kUnspec));
    put_port(out, 0);  // no address block
    return out;
  }
  const bool v4 = src.is_v4();
  out.push_back(static_cast<char>(v4 ? kTcp4 : kTcp6));
  put_port(out, v4 ? 12 : 36);  // the length field has the same shape as a port
  if (v4) {
    put_bytes(out, src.to_v4().to_bytes());
    put_bytes(out, dst.to_v4().to_bytes());
  } else {
    put_bytes(out, src.to_v6().to_bytes());
    put_bytes(out, dst.to_v6().to_bytes());
  }
  put_port(out, client.port());
  put_port(out, proxy.port());
  return out;
}

std::string proxy_header(config::ProxyProtocol version, const tcp::endpoint& client, const tcp::endpoint& proxy) {
  switch (version) {
    case config::ProxyProtocol::v1:
      return proxy_header_v1(client, proxy);
    case config::ProxyProtocol::v2:
      return proxy_header_v2(client, proxy);
    case config::ProxyProtocol::none:
      break;
  }
  return {};
}

}  // namespace cutover::l4
