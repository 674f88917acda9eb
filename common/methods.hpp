// Method properties of RFC 9110 §9.2 as the split, the mirror and the retry policy use them.
#pragma once

#include <string_view>

#include <boost/beast/http/verb.hpp>

namespace cutover::common {

// Safe methods (RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE): reads for the split, mirrored by
// default. Method names are case-sensitive (§9.1): "get" is not GET.
constexpr bool is_safe_method(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}
constexpr bool is_safe_method(boost::beast::http::verb m) {
  using boost::beast::http::verb;
  return m == verb::get || m == verb::head || m == verb::options || m == verb::trace;
}

// Idempotent methods (RFC 9110 §9.2.2): the safe ones, PUT and DELETE. Only these may be sent
// again after a connection failed before any response byte (RFC 9112 §9.3.1).
constexpr bool is_idempotent(boost::beast::http::verb m) {
  using boost::beast::http::verb;
  return is_safe_method(m) || m == verb::put || m == verb::delete_;
}

}  // namespace cutover::common
