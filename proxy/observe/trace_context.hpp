// Request IDs and W3C Trace Context (https://www.w3.org/TR/trace-context/, §3.2 traceparent):
// what is valid enough to forward, and fresh ones. Pure functions; the random bits come from the
// caller (the worker's generator).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cutover::observe {

// Longest request id kept from a client, in bytes.
inline constexpr std::size_t kMaxRequestIdBytes = 128;

// Whether an incoming request id may be kept: 1 to kMaxRequestIdBytes characters of
// [A-Za-z0-9] and -._:+/=@ (UUIDs, hex, base64 and the usual prefixed forms), so it can be written
// into headers and logs as it is.
bool valid_request_id(std::string_view id);

// A new request id: 128 random bits as 32 lower-case hex digits.
std::string make_request_id(std::uint64_t high, std::uint64_t low);

// A traceparent header's parts (views into the header value).
struct TraceParent {
  std::string_view version;    // 2 hex digits, not "ff"
  std::string_view trace_id;   // 32 lower-case hex digits, not all zero
  std::string_view parent_id;  // 16 lower-case hex digits, not all zero
  std::string_view flags;      // 2 hex digits
};

// Parses a traceparent value: version 00 is exactly 55 characters; a later version may carry more
// after a '-' (W3C Trace Context §3.2.4), which is kept when forwarded. nullopt when invalid.
std::optional<TraceParent> parse_traceparent(std::string_view value);

// "00-TRACE-SPAN-FLAGS" with a span id from `span_bits` (never all zero).
std::string make_traceparent(std::string_view trace_id, std::uint64_t span_bits, std::string_view flags);

// A fresh trace: a new trace id from `high`/`low`, a new span id from `span_bits`, sampled flag 01.
std::string new_traceparent(std::uint64_t high, std::uint64_t low, std::uint64_t span_bits);

}  // namespace cutover::observe
