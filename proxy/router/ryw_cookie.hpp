// The read-your-writes cookie: after a write served by a side, the client gets a cookie that names
// the side and when the pin ends, signed with HMAC-SHA-256 (RFC 2104, OpenSSL) under a key only
// this process knows, so a client can neither forge one nor stretch its expiry. Pure functions of
// the key, the route, the side and the time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proxy/router/split.hpp"

namespace cutover::router {

// The key: 32 random bytes from OpenSSL's RAND_bytes, made once per process (so cookies of an
// earlier run, or of another node, are ignored: their reads follow the weights again).
std::span<const unsigned char> ryw_process_key();

// The cookie value "s.EXPIRY.MAC" or "t.EXPIRY.MAC": the side's initial, the pin's end in Unix
// milliseconds, and the first 16 bytes of HMAC-SHA-256(key, route "|" side "|" EXPIRY) in
// lower-case hex. The route is signed too, so a cookie of one route does not pin another.
std::string ryw_cookie_value(std::span<const unsigned char> key, std::string_view route, Side side,
                             std::int64_t expires_unix_ms);

// The side a cookie value pins to, when its MAC is right and `now_unix_ms` is before its expiry;
// nullopt for anything else (forged, altered, expired, malformed).
std::optional<Side> ryw_cookie_side(std::span<const unsigned char> key, std::string_view route,
                                    std::string_view value, std::int64_t now_unix_ms);

}  // namespace cutover::router
