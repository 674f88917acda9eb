// How an exchange ends, as a closed set of outcomes, and the one place that says what each means:
// the status the client gets from cutover, whether and how the route's metrics and window
// statistics count it, the cluster's counters and the endpoint's outlier record, and whether the
// client connection may stay open. Every exit of an exchange, whatever the protocol on either
// side, goes through verdict(); the session code never picks a status or a counter itself.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/stats/window.hpp"

namespace cutover::exchange {

enum class Outcome : std::uint8_t {
  // The upstream answered.
  response,                  // relayed in full
  tunnel,                    // a 101 to an upgrade request: the connection became a tunnel
  response_cut_upstream,     // the head reached the client, then the upstream's body broke
  response_cut_upstream_timeout,  // ... stalled past response_timeout
  response_cut_client,       // the head reached the client, then writing to it failed
  response_cut_client_timeout,    // ... stalled past timeouts.body_idle
  // The upstream did not answer usably: cutover answers.
  connect_failed,            // no connection (connect, its timeout, the TLS handshake): nothing was sent
  upstream_send_failed,      // writing the request upstream failed
  upstream_closed,           // the upstream closed or reset the connection before any response byte
  response_timeout,          // no response head within response_timeout (or timeouts.request then)
  request_timeout,           // timeouts.request ran out while connecting or sending upstream
  invalid_response,          // unparsable head, unsafe framing, too many 1xx, an unrequested 101
  response_failed,           // the response body broke before any byte reached the client
  response_failed_timeout,   // ... stalled past response_timeout
  // The client's request cannot go on.
  request_body_timeout,      // timeouts.request ran out while the body came in: 408
  bad_request_body,          // malformed body (chunk framing): 400
  request_body_too_large,    // over limits.max_request_body: 413
  client_gone,               // the client left or idled out mid-request: nobody to answer
  // Refused before any upstream contact.
  bad_request,               // admission: ambiguous framing, bad target (RFC 9112 §3.2, §6): 400
  request_too_large,         // admission: Content-Length over limits.max_request_body: 413
  listener_gone,             // a reload removed the listener: 503
  no_route,                  // no route matches host and path: 404
  hold_timeout,              // a held write was not released within hold_timeout: 503
  hold_full,                 // max_held writes wait already: 503
  hold_client_left,          // the client left while its write was held: never forwarded
  maintenance,               // the route is in maintenance: its configured answer (503 by default)
  // The route's config cannot carry the request.
  grpc_needs_http2,          // a gRPC call (over HTTP/2) whose side's cluster speaks HTTP/1.1: 502
};

// What an answer from cutover looks like, when there is one.
enum class Answer : std::uint8_t {
  none,      // nothing is sent (the client left; or the upstream's response went out)
  text,      // text/plain "cutover: <reason>"
  held,      // application/json {"error","route","reason"} with Retry-After (write holds)
  maintenance,  // the route's maintenance answer: its body, content type and Retry-After
};

// The endpoint's outlier record for the attempt that ended so.
enum class OutlierRecord : std::uint8_t { none, connect_failure, status };

// Whether the client connection may stay open after cutover's own answer.
enum class Keep : std::uint8_t {
  never,                    // close (anything pipelined behind is dropped)
  if_request_complete,      // keep when the client asked to and its whole body was read
};

// What an outcome means. Two parts are applied at different moments: the attempt's (connect_error,
// outlier) when an attempt at an endpoint ends, since a failed connect may be followed by another
// attempt; the rest once, when the exchange ends.
struct Verdict {
  unsigned status = 0;       // cutover's answer; 0: the upstream's own status (or no answer)
  Answer answer = Answer::none;
  Keep keep = Keep::never;
  bool recorded = false;     // counted in cutover_requests_total and the route's window statistics
  stats::Outcome window = stats::Outcome::response;
  bool connect_error = false;     // cutover_upstream_connect_errors_total{cluster}
  bool cluster_timeout = false;   // cutover_upstream_timeouts_total{cluster}
  bool listener_rejected = false; // cutover_downstream_rejected_total{listener,code}
  OutlierRecord outlier = OutlierRecord::none;
};

// The meaning of each outcome (pure; the table is the documentation).
constexpr Verdict verdict(Outcome o) {
  using W = stats::Outcome;
  switch (o) {
    case Outcome::response:
      return {0, Answer::none, Keep::never, true, W::response, false, false, false, OutlierRecord::status};
    case Outcome::tunnel:
      return {0, Answer::none, Keep::never, true, W::response, false, false, false, OutlierRecord::status};
    case Outcome::response_cut_upstream:
      return {0, Answer::none, Keep::never, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::response_cut_upstream_timeout:
      return {0, Answer::none, Keep::never, true, W::timeout, false, true, false, OutlierRecord::none};
    case Outcome::response_cut_client:
      return {0, Answer::none, Keep::never, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::response_cut_client_timeout:
      return {0, Answer::none, Keep::never, true, W::timeout, false, false, false, OutlierRecord::none};
    case Outcome::connect_failed:
      return {502, Answer::text, Keep::if_request_complete, true, W::connect_error, true, false, false,
              OutlierRecord::connect_failure};
    case Outcome::upstream_send_failed:
      return {502, Answer::text, Keep::if_request_complete, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::upstream_closed:
      return {502, Answer::text, Keep::if_request_complete, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::response_timeout:
      return {504, Answer::text, Keep::if_request_complete, true, W::timeout, false, true, false, OutlierRecord::status};
    case Outcome::request_timeout:
      return {504, Answer::text, Keep::never, true, W::timeout, false, false, false, OutlierRecord::none};
    case Outcome::invalid_response:
      return {502, Answer::text, Keep::if_request_complete, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::response_failed:
      return {502, Answer::text, Keep::never, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::response_failed_timeout:
      return {502, Answer::text, Keep::never, true, W::response, false, true, false, OutlierRecord::none};
    case Outcome::request_body_timeout:
      return {408, Answer::text, Keep::never, true, W::timeout, false, false, true, OutlierRecord::none};
    case Outcome::bad_request_body:
      return {400, Answer::text, Keep::never, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::request_body_too_large:
      return {413, Answer::text, Keep::never, true, W::response, false, false, false, OutlierRecord::none};
    case Outcome::client_gone:
      return {0, Answer::none, Keep::never, false, W::response, false, false, false, OutlierRecord::none};
    case Outcome::bad_request:
      return {400, Answer::text, Keep::never, false, W::response, false, false, true, OutlierRecord::none};
    case Outcome::request_too_large:
      return {413, Answer::text, Keep::never, false, W::response, false, false, true, OutlierRecord::none};
    case Outcome::listener_gone:
      return {503, Answer::text, Keep::never, false, W::response, false, false, false, OutlierRecord::none};
    case Outcome::no_route:
      return {404, Answer::text, Keep::if_request_complete, false, W::response, false, false, false, OutlierRecord::none};
    case Outcome::hold_timeout:
      return {503, Answer::held, Keep::if_request_complete, false, W::response, false, false, false, OutlierRecord::none};
    case Outcome::hold_full:
      return {503, Answer::held, Keep::if_request_complete, false, W::response, false, false, false, OutlierRecord::none};
    case Outcome::hold_client_left:
      return {0, Answer::none, Keep::never, false, W::response, false, false, false, OutlierRecord::none};
    // Not recorded: the route's windows (ramp gates, /v1/stats) and cutover_requests_total see no
    // error for an answer the operator asked for; cutover_maintenance_responses_total counts it.
    // The status is the maintenance's own.
    case Outcome::maintenance:
      return {0, Answer::maintenance, Keep::if_request_complete, false, W::response, false, false, false,
              OutlierRecord::none};
    // Counted: a ramp onto a target that cannot carry the calls rolls back.
    case Outcome::grpc_needs_http2:
      return {502, Answer::text, Keep::if_request_complete, true, W::response, false, false, false,
              OutlierRecord::none};
  }
  return {};
}

// The name an outcome is logged under ("connect_failed", ...).
std::string_view name(Outcome o);

}  // namespace cutover::exchange
