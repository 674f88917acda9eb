// Value syntaxes for durations, sizes, weights and host:port (see units.hpp). Strict on purpose:
// a config typo must be an error, not a silently different number.
#include "config/units.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "common/text.hpp"

namespace cutover::config {
namespace {

// Only plain ASCII digits, so "5 s", "+5" or "05s " are rejected rather than guessed at.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (!common::all_digits(s)) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_ipv4_literal(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

// RFC 1123 host name: dot-separated labels of letters, digits and '-', not starting or ending
// with '-'. Names made only of digits and dots must be valid IPv4 instead, so "999.1.1.1" and
// "1.2.3" are rejected rather than sent to a resolver.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  bool only_digits_and_dots = true;
  std::size_t label_len = 0;
  char prev = '.';
  for (char c : host) {
    if (c == '.') {
      if (label_len == 0 || prev == '-') return false;
      label_len = 0;
    } else if (common::is_alnum(c) || c == '-') {
      if (label_len == 0 && c == '-') return false;
      if (++label_len > 63) return false;
      if (!common::is_digit(c)) only_digits_and_dots = false;
    } else {
      return false;
    }
    prev = c;
  }
  // A trailing dot (fully qualified) is fine; a trailing '-' is not.
  if (prev == '-') return false;
  if (only_digits_and_dots) return is_ipv4_literal(std::string(host));
  return true;
}

}  // namespace

namespace {

std::optional<std::chrono::milliseconds> parse_duration_impl(std::string_view text, bool long_units) {
  std::uint64_t scale = 0;
  std::string_view digits;
  if (long_units && text.ends_with("h")) {
    scale = 3'600'000;
    digits = text.substr(0, text.size() - 1);
  } else if (long_units && text.ends_with("d")) {
    scale = 86'400'000;
    digits = text.substr(0, text.size() - 1);
  } else if (text.ends_with("ms")) {
    scale = 1;
    digits = text.substr(0, text.size() - 2);
  } else if (text.ends_with("s")) {
    scale = 1000;
    digits = text.substr(0, text.size() - 1);
  } else if (text.ends_with("m")) {
    scale = 60'000;
    digits = text.substr(0, text.size() - 1);
  } else {
    return std::nullopt;
  }
  auto n = parse_u64(digits);
  if (!n) return std::nullopt;
  using Rep = std::chrono::milliseconds::rep;
  if (*n > static_cast<std::uint64_t>(std::numeric_limits<Rep>::max()) / scale) return std::nullopt;
  return std::chrono::milliseconds(static_cast<Rep>(*n * scale));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  return parse_duration_impl(text, /*long_units=*/false);
}

std::optional<std::chrono::milliseconds> parse_long_duration(std::string_view text) {
  return parse_duration_impl(text, /*long_units=*/true);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t scale = 1;
  std::string_view digits = text;
  if (text.ends_with("KiB")) {
    scale = std::uint64_t{1} << 10;
  } else if (text.ends_with("MiB")) {
    scale = std::uint64_t{1} << 20;
  } else if (text.ends_with("GiB")) {
    scale = std::uint64_t{1} << 30;
  }
  if (scale != 1) {
    digits = text.substr(0, text.size() - 3);
  } else if (text.ends_with("B")) {
    digits = text.substr(0, text.size() - 1);
  }
  auto n = parse_u64(digits);
  if (!n) return std::nullopt;
  if (*n > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return *n * scale;
}

std::optional<std::uint32_t> percent_to_bp(double percent) {
  if (!std::isfinite(percent) || percent < 0.0 || percent > 100.0) return std::nullopt;
  // Decimal text like "0.07" is not exact in binary, so accept anything within a hair of a
  // whole basis point; "10.255" is half a point away and is rejected.
  const double scaled = percent * 100.0;
  const double rounded = std::round(scaled);
  if (std::fabs(scaled - rounded) > 1e-6) return std::nullopt;
  return static_cast<std::uint32_t>(rounded);
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    if (!is_ipv6_literal(host)) return std::nullopt;
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    // A bare IPv6 literal ("::1:80") is ambiguous; it must be written "[::1]:80".
    if (host.find(':') != std::string::npos) return std::nullopt;
    if (!is_host_name(host)) return std::nullopt;
    port_text = text.substr(colon + 1);
  }
  if (port_text.size() > 5) return std::nullopt;
  auto port = parse_u64(port_text);
  if (!port || *port > 65535) return std::nullopt;
  HostPort hp;
  hp.host = std::move(host);
  hp.port = static_cast<std::uint16_t>(*port);
  hp.text = std::string(text);
  return hp;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  Cidr c;
  std::array<unsigned char, 16> bytes{};
  std::size_t len = 0;
  in_addr a4{};
  in6_addr a6{};
  // inet_pton is strict: no leading zeros in IPv4 octets, no brackets, no zone, no spaces.
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) {
    len = 4;
    std::memcpy(bytes.data(), &a4, 4);
  } else if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    c.ipv6 = true;
    len = 16;
    std::memcpy(bytes.data(), &a6, 16);
  } else {
    return std::nullopt;
  }
  const unsigned max_prefix = static_cast<unsigned>(len * 8);
  c.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
    auto n = parse_u64(p);
    if (!n || *n > max_prefix) return std::nullopt;
    c.prefix = static_cast<unsigned>(*n);
  }
  for (std::size_t i = 0; i < len; ++i) {
    const unsigned bits_here = c.prefix >= (i + 1) * 8 ? 8 : (c.prefix > i * 8 ? c.prefix - static_cast<unsigned>(i) * 8 : 0);
    const auto mask = static_cast<unsigned char>(bits_here == 0 ? 0 : (0xff << (8 - bits_here)) & 0xff);
    if ((bytes[i] & ~mask & 0xff) != 0) c.host_bits_set = true;
    bytes[i] = static_cast<unsigned char>(bytes[i] & mask);
  }
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(c.ipv6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf) == nullptr) return std::nullopt;
  c.canonical = std::string(buf) + "/" + std::to_string(c.prefix);
  return c;
}

bool is_loopback_host(std::string_view host) {
  const std::string h = common::to_lower(host);
  if (h == "localhost" || h == "localhost.") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    // ::ffff:127.x.y.z is IPv4 loopback reached through a dual-stack socket.
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

bool is_wildcard_host(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

}  // namespace cutover::config
