// Route selection for one listener: exact host beats "*", then the longest path prefix wins
// (as Envoy picks a virtual host by domain before a route by prefix), then a gRPC-only route for a
// gRPC call. Pure; O(routes).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace cutover::router {

struct RouteMatch {
  std::string host;         // lower-case exact host without port, or "*"
  std::string path_prefix;  // plain string prefix, starts with '/'
  bool grpc = false;        // matches gRPC calls only (content-type application/grpc*)
};

// Host header value without the port, as written: "Example.com:8080" -> "Example.com",
// "[::1]:80" -> "[::1]". Comparison against routes is case-insensitive (RFC 9110 §4.2.3).
std::string_view host_without_port(std::string_view host_header);

// The path of a request-target (RFC 9112 §3.2): origin-form "/a?b" -> "/a"; absolute-form
// "http://h/a?b" -> "/a"; asterisk-form and anything else -> "".
std::string_view path_of_target(std::string_view target);

// Index into `routes` of the best match for (host, path), or -1 when none matches. `grpc_call`:
// the request is a gRPC call; routes with `grpc` match only those, and on the same host and prefix
// length they win over a route for any request.
int match_route(std::span<const RouteMatch> routes, std::string_view host, std::string_view path,
                bool grpc_call = false);

}  // namespace cutover::router
