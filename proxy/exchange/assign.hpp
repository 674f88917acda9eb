// Which side serves one request, first rule that applies: a forced side from an allowed tester,
// else the first tenant segment the request matches, else (reads) the side of the client's own
// write within read_your_writes.window, else the sticky bucket of the user's key (header, cookie or
// client IP, first present in config order), else a random bucket, compared against the route's
// weight for the request's kind. Pure: the session passes the request's header fields, the client
// address, the segments and read-your-writes pin it loaded, and a random value.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>

#include "proxy/router/segments.hpp"
#include "proxy/router/split.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

// Why a request went to its side (the access log's side_reason).
enum class Reason : std::uint8_t { weight, sticky, force, segment, read_your_writes };
constexpr std::string_view name(Reason r) {
  switch (r) {
    case Reason::sticky: return "sticky";
    case Reason::force: return "force";
    case Reason::segment: return "segment";
    case Reason::read_your_writes: return "read_your_writes";
    case Reason::weight: break;
  }
  return "weight";
}

struct Assignment {
  router::Side side = router::Side::source;
  Reason reason = Reason::weight;
  bool forced = false;                     // a force header/cookie from an allowed client decided
  bool keyed = false;                      // the bucket is the user's sticky key's (else a random one)
  std::uint32_t bucket = 0;                // the bucket compared against the weight
  std::optional<std::uint32_t> pin_bucket;  // set: answer with the route's pin cookie holding it
  std::optional<std::size_t> segment;       // reason segment: the index of the segment that matched
};

// `random_bits` is used only when no sticky key is present. The force header is not removed here:
// the session strips it before forwarding, whoever sent it. `segments`: the route's published list
// (null: none). `ryw`: the side of this client's last write while its read-your-writes pin lasts
// (ryw_pin()); it applies to reads only.
Assignment assign_side(const runtime::Route& route, router::Kind kind, router::Weights weights,
                       const boost::beast::http::fields& headers, std::string_view client_ip,
                       const boost::asio::ip::address& client, std::uint64_t random_bits,
                       const router::Segments* segments = nullptr, std::optional<router::Side> ryw = std::nullopt);

// The side an allowed tester forces (route `force`), or nullopt: also what lets a tester through a
// route in maintenance.
std::optional<router::Side> forced_side(const runtime::Route& route, const boost::beast::http::fields& headers,
                                        const boost::asio::ip::address& client);

// A request's read-your-writes identity and pin, for a route with read_your_writes.
struct RywPin {
  std::optional<std::uint64_t> key_hash;  // the sticky key's (RywTable::key_hash); nullopt: the cookie names the client
  std::optional<router::Side> side;       // reads: the side of the client's write, while the pin lasts
};
// `now`/`now_unix_ms`: the time, for the table and for the cookie's expiry. The key is the first
// sticky source present (header, cookie, client IP; not the pin cookie, which many clients share);
// without one, the signed cookie read_your_writes.cookie (router/ryw_cookie.hpp) names the side.
RywPin ryw_pin(const runtime::Route& route, router::Kind kind, const boost::beast::http::fields& headers,
               std::string_view client_ip, std::chrono::steady_clock::time_point now, std::int64_t now_unix_ms);

}  // namespace cutover::exchange
