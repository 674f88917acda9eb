// Sticky and forced assignment as pure functions: the bucket a user key hashes to, the
// cookie lookup, and the forced-side rules. The session supplies the request's values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "proxy/router/split.hpp"

namespace cutover::router {

// XXH3-64 seed for sticky keys. Fixed forever: changing it would move users between sides on
// upgrade. (0x6375746f766572 is "cutover" in ASCII.)
inline constexpr std::uint64_t kStickySeed = 0x6375746f766572ULL;

// The bucket 0..9999 of a sticky key: XXH3_64bits_withSeed(key, kStickySeed) % 10000. Stable
// across processes, machines and restarts. The split is then choose_side(weight_bp, bucket), so
// raising a weight only moves users from source to target.
std::uint32_t sticky_bucket(std::string_view key);

// A pin cookie's value as a bucket: the decimal integer 0..9999 that cutover itself set; nullopt
// for anything else (the caller then hashes the value like any other key).
std::optional<std::uint32_t> pinned_bucket(std::string_view cookie_value);

// The value of cookie `name` in a Cookie header ("a=1; b=2", RFC 6265 §5.4); the first one wins.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

// "source" / "target" (case-insensitive) to a side; nullopt otherwise.
std::optional<Side> parse_side(std::string_view value);

struct AllowList {
  std::span<const boost::asio::ip::network_v4> v4;
  std::span<const boost::asio::ip::network_v6> v6;
};

// Whether `client` is inside one of the networks (an IPv4-mapped IPv6 client is checked as IPv4).
bool allowed(const AllowList& allow, const boost::asio::ip::address& client);

}  // namespace cutover::router
