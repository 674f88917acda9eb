// The PROXY protocol header (HAProxy's "PROXY protocol" spec, versions 1 and 2) that a tcp
// route sends first on an upstream connection, so the backend learns the client's address.
// Pure functions: the session supplies the addresses, tests check the bytes.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "config/model.hpp"

namespace cutover::l4 {

// Version 1, text: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 for IPv6; at most 107
// bytes). `client` is the downstream peer, `proxy` the address it connected to. An IPv4-mapped
// IPv6 address counts as IPv4. When the two families still differ: "PROXY UNKNOWN\r\n".
std::string proxy_header_v1(const boost::asio::ip::tcp::endpoint& client, const boost::asio::ip::tcp::endpoint& proxy);

// Version 2, binary: the 12-byte signature, version/command 0x21 (v2, PROXY), family 0x11
// (TCP over IPv4) or 0x21 (TCP over IPv6), the address block length (big-endian, 12 or 36), then
// source address, destination address, source port, destination port in network byte order
// (28 or 52 bytes in all). Families that differ after unmapping: family 0x00 (UNSPEC) with an
// empty address block (16 bytes), which tells the receiver to use the connection's own addresses.
std::string proxy_header_v2(const boost::asio::ip::tcp::endpoint& client, const boost::asio::ip::tcp::endpoint& proxy);

// The header of `version` (empty for ProxyProtocol::none).
std::string proxy_header(config::ProxyProtocol version, const boost::asio::ip::tcp::endpoint& client,
                         const boost::asio::ip::tcp::endpoint& proxy);

}  // namespace cutover::l4
