// Tenant segments compiled for the request path: which side a request's header, cookie or client
// address pins it to (config::SegmentConfig says what a segment means). Compiled once when a list
// is published (config load, PUT /v1/routes/{r}/segments), never per request: a segment's values
// are a hash set, so a list of 10,000 tenants costs one hash lookup per request, not a scan.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "proxy/router/split.hpp"
#include "proxy/router/sticky.hpp"

namespace cutover::router {

// std::hash<std::string_view> for heterogeneous lookup: a request's string_view is looked up
// without building a std::string.
struct ValueHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Segment {
  enum class Kind : std::uint8_t { header, cookie, client };
  Kind kind = Kind::header;
  std::string name;  // header (case-insensitive) or cookie (case-sensitive) name
  std::unordered_set<std::string, ValueHash, std::equal_to<>> values;  // exact values
  std::string prefix;  // non-empty: a value starting with it matches (values is empty then)
  std::vector<boost::asio::ip::network_v4> v4;  // client networks (kind client)
  std::vector<boost::asio::ip::network_v6> v6;
  Side side = Side::source;

  // Whether a request whose NAME value is `value` matches (header and cookie segments).
  bool matches_value(std::string_view value) const {
    return prefix.empty() ? values.find(value) != values.end() : value.starts_with(prefix);
  }
};

// A route's list, in order.
struct Segments {
  std::vector<Segment> list;
};

// The first segment of `segments` the request matches: its index, or nullopt. `header(name)` and
// `cookie(name)` give the request's value of a header or cookie (nullopt when absent); `client` is
// its address (an IPv4-mapped IPv6 address is checked as IPv4). Pure.
template <class HeaderOf, class CookieOf>
std::optional<std::size_t> match_segment(const Segments& segments, HeaderOf&& header, CookieOf&& cookie,
                                         const boost::asio::ip::address& client) {
  for (std::size_t i = 0; i < segments.list.size(); ++i) {
    const Segment& s = segments.list[i];
    switch (s.kind) {
      case Segment::Kind::header:
        if (std::optional<std::string_view> v = header(s.name); v && s.matches_value(*v)) return i;
        break;
      case Segment::Kind::cookie:
        if (std::optional<std::string_view> v = cookie(s.name); v && s.matches_value(*v)) return i;
        break;
      case Segment::Kind::client:
        if (allowed({s.v4, s.v6}, client)) return i;
        break;
    }
  }
  return std::nullopt;
}

}  // namespace cutover::router
