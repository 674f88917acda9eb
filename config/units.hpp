// Value syntaxes shared by the config loader and the admin API: durations, sizes, weights,
// host:port. Pure functions; std::nullopt means "not valid", never a throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.hpp"

namespace cutover::config {

// "250ms", "5s", "2m" (a non-negative integer and a unit; a bare integer is rejected).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// As parse_duration, plus hours and days ("12h", "30d"): for long lifetimes such as a cookie's
// Max-Age (sticky.pin_max_age). Kept apart so "5h" stays an error for timeouts and intervals.
std::optional<std::chrono::milliseconds> parse_long_duration(std::string_view text);
// "512", "64KiB", "1MiB", "1GiB" in bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);
// A weight in percent, 0..100 in steps of 0.01, to basis points 0..10000.
std::optional<std::uint32_t> percent_to_bp(double percent);
// "127.0.0.1:8080", "[::1]:8080", "localhost:80"; port 0..65535 (0 = pick a free one).
// IPv6 literals need brackets and are returned without them (host "::1"); names must be valid
// RFC 1123 host names; `mark` is left for the caller to fill.
std::optional<HostPort> parse_host_port(std::string_view text);
// An IP network "ADDR/PREFIX" (IPv4 prefix 0..32, IPv6 0..128, the prefix in plain decimal
// without leading zeros), or a bare address meaning a single host (/32 or /128). IPv6 is written
// without brackets or zone ("fe80::/10", "::1").
struct Cidr {
  bool ipv6 = false;
  unsigned prefix = 0;
  // True when the address has bits set after the prefix ("10.0.0.1/8"); `canonical` then holds
  // the network it would mean ("10.0.0.0/8").
  bool host_bits_set = false;
  // Always "ADDR/PREFIX" with host bits cleared and the address in inet_ntop's form, so
  // boost::asio::ip::make_network_v4/v6 accept it as is.
  std::string canonical;
};
std::optional<Cidr> parse_cidr(std::string_view text);
// True for "localhost", 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: an address only this machine
// can reach (the admin API may run without tokens only there, SPEC "Admin API").
bool is_loopback_host(std::string_view host);
// True for the any-address ("0.0.0.0", "::"), which collides with every address on its port.
bool is_wildcard_host(std::string_view host);

}  // namespace cutover::config
