// Side assignment for one request: see assign.hpp.
#include "proxy/exchange/assign.hpp"

#include "proxy/router/sticky.hpp"

namespace cutover::exchange {

namespace {

namespace bhttp = boost::beast::http;

std::optional<std::string_view> header_value(const bhttp::fields& headers, std::string_view name) {
  auto it = headers.find(name);
  if (it == headers.end() || it->value().empty()) return std::nullopt;
  return it->value();
}

std::optional<std::string_view> cookie(const bhttp::fields& headers, std::string_view name) {
  auto it = headers.find(bhttp::field::cookie);
  if (it == headers.end()) return std::nullopt;
  return router::cookie_value(it->value(), name);
}

// The bucket of a cookie value: the pin cookie holds a bucket id cutover set itself; any other
// value (or a tampered one) is hashed like every key.
std::uint32_t cookie_bucket(const runtime::Route& route, std::string_view name, std::string_view value) {
  if (name == route.sticky.pin_cookie)
    if (auto b = router::pinned_bucket(value)) return *b;
  return router::sticky_bucket(value);
}

std::optional<std::uint32_t> sticky_key_bucket(const runtime::Route& route, const bhttp::fields& headers,
                                               std::string_view client_ip) {
  using Kind = config::StickySource::Kind;
  for (const auto& source : route.sticky.sources) {
    switch (source.kind) {
      case Kind::header:
        if (auto v = header_value(headers, source.name)) return router::sticky_bucket(*v);
        break;
      case Kind::cookie:
        if (auto v = cookie(headers, source.name); v && !v->empty()) return cookie_bucket(route, source.name, *v);
        break;
      case Kind::client_ip:
        return router::sticky_bucket(client_ip);
    }
  }
  if (!route.sticky.pin_cookie.empty())
    if (auto v = cookie(headers, route.sticky.pin_cookie); v && !v->empty())
      return cookie_bucket(route, route.sticky.pin_cookie, *v);
  return std::nullopt;
}

std::optional<router::Side> forced_side(const runtime::Route& route, const bhttp::fields& headers,
                                        const boost::asio::ip::address& client) {
  const auto& f = route.force;
  if (!f.enabled()) return std::nullopt;
  std::optional<router::Side> wanted;
  if (!f.header.empty())
    if (auto v = header_value(headers, f.header)) wanted = router::parse_side(*v);
  if (!wanted && !f.cookie.empty())
    if (auto v = cookie(headers, f.cookie)) wanted = router::parse_side(*v);
  if (!wanted || !router::allowed({f.allow_v4, f.allow_v6}, client)) return std::nullopt;
  return wanted;
}

}  // namespace

Assignment assign_side(const runtime::Route& route, router::Kind kind, router::Weights weights,
                       const bhttp::fields& headers, std::string_view client_ip,
                       const boost::asio::ip::address& client, std::uint64_t random_bits) {
  Assignment a;
  if (auto forced = forced_side(route, headers, client)) {
    a.side = *forced;
    a.forced = true;
    return a;
  }
  std::optional<std::uint32_t> keyed;
  if (!route.sticky.sources.empty() || !route.sticky.pin_cookie.empty())
    keyed = sticky_key_bucket(route, headers, client_ip);
  a.keyed = keyed.has_value();
  a.bucket = keyed ? *keyed : router::bucket_of(random_bits);
  if (!keyed && !route.sticky.pin_cookie.empty()) a.pin_bucket = a.bucket;
  a.side = router::choose_side(weights.for_kind(kind), a.bucket);
  return a;
}

}  // namespace cutover::exchange
