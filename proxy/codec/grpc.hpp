// gRPC over HTTP/2 (gRPC's PROTOCOL-HTTP2.md), as far as cutover looks at it: what makes a request
// a call, the status of a call that ended (for the window statistics ramps gate on), and the
// "Trailers-Only" answer cutover gives a call itself (HTTP status 200 with grpc-status and
// grpc-message), so a gRPC client sees a status it handles rather than an HTTP error page. Pure
// functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cutover::codec {

// Whether a request's content-type makes it a gRPC call ("application/grpc", "+proto", ...).
constexpr bool is_grpc_content_type(std::string_view content_type) {
  constexpr std::string_view kGrpc = "application/grpc";
  return content_type.substr(0, kGrpc.size()) == kGrpc &&
         (content_type.size() == kGrpc.size() || content_type[kGrpc.size()] == '+' ||
          content_type[kGrpc.size()] == ';');
}

// The code of cutover's answer to a gRPC call routed to a cluster that speaks HTTP/1.1.
inline constexpr std::string_view kGrpcNeedsHttp2 = "grpc_needs_http2";

// The gRPC status code for cutover's own answer `http_status` (and its `code`: for a held write
// "hold_timeout" or "max_held", or kGrpcNeedsHttp2): the waits that ran out are DEADLINE_EXCEEDED
// (4); a request cutover would not take, or a call its config cannot carry, is INTERNAL (13), or
// RESOURCE_EXHAUSTED (8) when over a size limit; everything else (no upstream reachable, no route,
// a full hold) is UNAVAILABLE (14), which clients may retry.
constexpr unsigned grpc_status_for(unsigned http_status, std::string_view code) {
  if (code == "hold_timeout" || http_status == 504 || http_status == 408) return 4;
  if (http_status == 413 || http_status == 431) return 8;
  if (http_status == 400 || code == kGrpcNeedsHttp2) return 13;
  return 14;
}

// Whether `grpc_status` (a grpc-status value: a decimal code 0..16) is one of the codes in `mask`
// (bit N: code N; the route's grpc_error_codes). Anything else, malformed included, is not.
constexpr bool grpc_status_in(std::string_view grpc_status, std::uint32_t mask) {
  if (grpc_status.empty() || grpc_status.size() > 2) return false;
  unsigned code = 0;
  for (char c : grpc_status) {
    if (c < '0' || c > '9') return false;
    code = code * 10 + static_cast<unsigned>(c - '0');
  }
  return code <= 16 && (mask >> code & 1u) != 0;
}

// A grpc-timeout value (gRPC's PROTOCOL-HTTP2.md: at most 8 digits and a unit, H M S m u n) as
// microseconds, nanoseconds rounded up so that a deadline under a microsecond is not zero;
// std::nullopt when malformed (the call then has no deadline of its own, as Envoy treats it).
constexpr std::optional<std::chrono::microseconds> parse_grpc_timeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  std::int64_t n = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  switch (value.back()) {
    case 'H': return std::chrono::microseconds(n * 3'600'000'000);
    case 'M': return std::chrono::microseconds(n * 60'000'000);
    case 'S': return std::chrono::microseconds(n * 1'000'000);
    case 'm': return std::chrono::microseconds(n * 1'000);
    case 'u': return std::chrono::microseconds(n);
    case 'n': return std::chrono::microseconds((n + 999) / 1'000);
    default: return std::nullopt;
  }
}

// What is left of a call's deadline as a grpc-timeout value for the upstream: the finest unit
// whose count fits the 8 digits, rounded down, so the upstream never gets more time than is left
// (a negative `left` is written as 0u). Microseconds up to 99.99 s, then milliseconds, seconds,
// minutes, hours (at most 99,999,999 H).
inline std::string format_grpc_timeout(std::chrono::microseconds left) {
  static constexpr std::int64_t kMax = 99'999'999;
  std::int64_t n = left.count() < 0 ? 0 : left.count();
  if (n <= kMax) return std::to_string(n) + "u";
  if ((n /= 1'000) <= kMax) return std::to_string(n) + "m";
  if ((n /= 1'000) <= kMax) return std::to_string(n) + "S";
  if ((n /= 60) <= kMax) return std::to_string(n) + "M";
  n /= 60;
  return std::to_string(n < kMax ? n : kMax) + "H";
}

// grpc-message's percent-encoding: bytes outside printable ASCII, and '%', as %XX.
inline std::string grpc_percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace cutover::codec
