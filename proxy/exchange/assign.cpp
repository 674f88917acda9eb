// Side assignment for one request: see assign.hpp.
#include "proxy/exchange/assign.hpp"

#include "proxy/router/ryw_cookie.hpp"
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

// The first sticky source present in the request (not the pin cookie): its value, and the cookie's
// name when it is a cookie.
struct StickyKey {
  std::string_view value;
  std::string_view cookie_name;
};
std::optional<StickyKey> sticky_key(const runtime::Route& route, const bhttp::fields& headers,
                                    std::string_view client_ip) {
  using Kind = config::StickySource::Kind;
  for (const auto& source : route.sticky.sources) {
    switch (source.kind) {
      case Kind::header:
        if (auto v = header_value(headers, source.name)) return StickyKey{*v, {}};
        break;
      case Kind::cookie:
        if (auto v = cookie(headers, source.name); v && !v->empty()) return StickyKey{*v, source.name};
        break;
      case Kind::client_ip:
        return StickyKey{client_ip, {}};
    }
  }
  return std::nullopt;
}

std::optional<std::uint32_t> sticky_key_bucket(const runtime::Route& route, const bhttp::fields& headers,
                                               std::string_view client_ip) {
  if (auto k = sticky_key(route, headers, client_ip))
    return k->cookie_name.empty() ? router::sticky_bucket(k->value) : cookie_bucket(route, k->cookie_name, k->value);
  if (!route.sticky.pin_cookie.empty())
    if (auto v = cookie(headers, route.sticky.pin_cookie); v && !v->empty())
      return cookie_bucket(route, route.sticky.pin_cookie, *v);
  return std::nullopt;
}

}  // namespace

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

RywPin ryw_pin(const runtime::Route& route, router::Kind kind, const bhttp::fields& headers,
               std::string_view client_ip, std::chrono::steady_clock::time_point now, std::int64_t now_unix_ms) {
  RywPin pin;
  if (!route.ryw.enabled) return pin;
  if (route.ryw_table)
    if (auto key = sticky_key(route, headers, client_ip)) pin.key_hash = runtime::RywTable::key_hash(key->value);
  if (kind != router::Kind::read) return pin;
  if (pin.key_hash)
    pin.side = route.ryw_table->find(*pin.key_hash, now);
  else if (auto v = cookie(headers, route.ryw.cookie))
    pin.side = router::ryw_cookie_side(router::ryw_process_key(), route.name, *v, now_unix_ms);
  return pin;
}

Assignment assign_side(const runtime::Route& route, router::Kind kind, router::Weights weights,
                       const bhttp::fields& headers, std::string_view client_ip,
                       const boost::asio::ip::address& client, std::uint64_t random_bits,
                       const router::Segments* segments, std::optional<router::Side> ryw) {
  Assignment a;
  if (auto forced = forced_side(route, headers, client)) {
    a.side = *forced;
    a.forced = true;
    a.reason = Reason::force;
    return a;
  }
  if (segments && !segments->list.empty()) {
    auto header_of = [&](std::string_view name) { return header_value(headers, name); };
    auto cookie_of = [&](std::string_view name) { return cookie(headers, name); };
    if (auto i = router::match_segment(*segments, header_of, cookie_of, client)) {
      a.side = segments->list[*i].side;
      a.reason = Reason::segment;
      a.segment = *i;
      return a;
    }
  }
  if (ryw && kind == router::Kind::read) {
    a.side = *ryw;
    a.reason = Reason::read_your_writes;
    return a;
  }
  std::optional<std::uint32_t> keyed;
  if (!route.sticky.sources.empty() || !route.sticky.pin_cookie.empty())
    keyed = sticky_key_bucket(route, headers, client_ip);
  a.keyed = keyed.has_value();
  a.bucket = keyed ? *keyed : router::bucket_of(random_bits);
  if (!keyed && !route.sticky.pin_cookie.empty()) a.pin_bucket = a.bucket;
  a.side = router::choose_side(weights.for_kind(kind), a.bucket);
  a.reason = keyed ? Reason::sticky : Reason::weight;
  return a;
}

}  // namespace cutover::exchange
