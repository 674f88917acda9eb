// gRPC over HTTP/2 (gRPC's PROTOCOL-HTTP2.md), as far as cutover looks at it: what makes a request
// a call, the status of a call that ended (for the window statistics ramps gate on), and the
// "Trailers-Only" answer cutover gives a call itself (HTTP status 200 with grpc-status and
// grpc-message), so a gRPC client sees a status it handles rather than an HTTP error page. Pure
// functions.
#pragma once

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

// The gRPC status code for cutover's own answer `http_status` (and, for a held write, its `held`
// code "hold_timeout" or "max_held"): the waits that ran out are DEADLINE_EXCEEDED (4); a request
// cutover would not take is INTERNAL (13), or RESOURCE_EXHAUSTED (8) when over a size limit;
// everything else (no upstream reachable, no route, a full hold) is UNAVAILABLE (14), which
// clients may retry.
constexpr unsigned grpc_status_for(unsigned http_status, std::string_view held) {
  if (held == "hold_timeout" || http_status == 504 || http_status == 408) return 4;
  if (http_status == 413 || http_status == 431) return 8;
  if (http_status == 400) return 13;
  return 14;
}

// The status codes that count a call as failed in the window statistics (ramps, /v1/stats): UNKNOWN
// (2), DEADLINE_EXCEEDED (4), UNIMPLEMENTED (12), INTERNAL (13), UNAVAILABLE (14), DATA_LOSS (15):
// the service's faults, not the caller's (NOT_FOUND, INVALID_ARGUMENT and the like are answers).
constexpr bool grpc_status_is_error(std::string_view grpc_status) {
  return grpc_status == "2" || grpc_status == "4" || grpc_status == "12" || grpc_status == "13" ||
         grpc_status == "14" || grpc_status == "15";
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
