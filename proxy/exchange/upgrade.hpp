// Which HTTP upgrade (RFC 9110 §7.8) a request asks for, when its route tunnels it: pure
// functions over the request and response heads, so the rules are tested without sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>

namespace cutover::exchange {

// The protocol to forward in Upgrade ("websocket", "WebSocket/13": the request's first listed
// protocol, as written) when the request asks to upgrade to it and `allowed` (lower-case names)
// lists its name; nullopt otherwise, and the request is served as plain HTTP without the upgrade.
// Asks means: HTTP/1.1 or later (an HTTP/1.0 request's Upgrade is ignored, §7.8), `Connection`
// lists "upgrade", an Upgrade field names a protocol, and no body (`has_body`: the request has
// Transfer-Encoding or a non-zero Content-Length) that would have to be read before the switch.
std::optional<std::string> requested_upgrade(const boost::beast::http::request_header<>& req,
                                             const std::vector<std::string>& allowed, bool has_body);

// Whether a 101 response switches to `requested` (the protocol the request was forwarded with):
// its Upgrade field's first protocol has the same name (RFC 9110 §7.8: a server must not switch
// to a protocol the client did not ask for).
bool switches_to(const boost::beast::http::response_header<>& res, std::string_view requested);

// Puts the upgrade back on a request head whose hop-by-hop fields were removed: `Upgrade:
// <protocol>` and `Connection: upgrade`.
void forward_upgrade(boost::beast::http::request_header<>& req, std::string_view protocol);

}  // namespace cutover::exchange
