// Admission: what a request must be before any route sees it. A pure function over the parsed
// head, so the rules are tested without sockets and apply to every protocol that hands the
// exchange a request head.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>

#include "config/model.hpp"
#include "proxy/exchange/outcome.hpp"

namespace cutover::exchange {

struct Refusal {
  Outcome outcome;     // bad_request or request_too_large
  std::string reason;  // for the answer's body
};

// Refuses a request whose framing is ambiguous (codec::check_request_framing, RFC 9112 §3.2, §6),
// whose Content-Length is over limits.max_request_body (0: no limit), or whose absolute-form
// target is not one a gateway may take (RFC 9112 §3.2.2). An absolute-form target is rewritten to
// origin-form with its authority as the Host, so routing sees the host the client meant.
std::optional<Refusal> admit(boost::beast::http::request_header<>& head, std::optional<std::uint64_t> content_length,
                             const config::LimitsConfig& limits);

}  // namespace cutover::exchange
