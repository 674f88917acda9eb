// Which side serves one request: a forced side from an allowed tester, else the sticky
// bucket of the user's key (header, cookie or client IP, first present in config order), else a
// random bucket, compared against the route's weight for the request's kind. Pure: the session
// passes the request's header fields, the client address and a random value.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>

#include "proxy/router/split.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

struct Assignment {
  router::Side side = router::Side::source;
  bool forced = false;                     // a force header/cookie from an allowed client decided
  bool keyed = false;                      // the bucket is the user's sticky key's (else a random one)
  std::uint32_t bucket = 0;                // the bucket compared against the weight
  std::optional<std::uint32_t> pin_bucket;  // set: answer with the route's pin cookie holding it
};

// `random_bits` is used only when no sticky key is present. The force header is not removed here:
// the session strips it before forwarding, whoever sent it.
Assignment assign_side(const runtime::Route& route, router::Kind kind, router::Weights weights,
                       const boost::beast::http::fields& headers, std::string_view client_ip,
                       const boost::asio::ip::address& client, std::uint64_t random_bits);

}  // namespace cutover::exchange
