// Outcome names: see outcome.hpp.
#include "proxy/exchange/outcome.hpp"

namespace cutover::exchange {

std::string_view name(Outcome o) {
  switch (o) {
    case Outcome::response: return "response";
    case Outcome::tunnel: return "tunnel";
    case Outcome::response_cut_upstream: return "response_cut_upstream";
    case Outcome::response_cut_upstream_timeout: return "response_cut_upstream_timeout";
    case Outcome::response_cut_client: return "response_cut_client";
    case Outcome::response_cut_client_timeout: return "response_cut_client_timeout";
    case Outcome::connect_failed: return "connect_failed";
    case Outcome::upstream_send_failed: return "upstream_send_failed";
    case Outcome::upstream_closed: return "upstream_closed";
    case Outcome::response_timeout: return "response_timeout";
    case Outcome::request_timeout: return "request_timeout";
    case Outcome::invalid_response: return "invalid_response";
    case Outcome::response_failed: return "response_failed";
    case Outcome::response_failed_timeout: return "response_failed_timeout";
    case Outcome::request_body_timeout: return "request_body_timeout";
    case Outcome::bad_request_body: return "bad_request_body";
    case Outcome::request_body_too_large: return "request_body_too_large";
    case Outcome::client_gone: return "client_gone";
    case Outcome::bad_request: return "bad_request";
    case Outcome::request_too_large: return "request_too_large";
    case Outcome::listener_gone: return "listener_gone";
    case Outcome::no_route: return "no_route";
    case Outcome::hold_timeout: return "hold_timeout";
    case Outcome::hold_full: return "hold_full";
    case Outcome::hold_client_left: return "hold_client_left";
    case Outcome::grpc_needs_http2: return "grpc_needs_http2";
    case Outcome::maintenance: return "maintenance";
  }
  return "unknown";
}

}  // namespace cutover::exchange
