// One access log line: what happened to one HTTP request, one tcp connection or one tunnel, as a
// JSON object on one line (RFC 8259; Boost.JSON escapes the strings, and the path's bytes outside
// printable ASCII are percent-encoded first, so a line never holds raw bytes).
//
// Fields (config/model.hpp kAccessLogFields names them, in this order by default):
//   time         RFC 3339 UTC with microseconds: when the request head (or the connection) arrived
//   request_id   the request's id (kept from a trusted client, else made here); null for tcp
//   trace_id     the traceparent's trace id; null without a valid one
//   client_ip, client_port   the downstream peer
//   listener, route          names; route null when none matched
//   method, path             path without its query unless log_query; null for tcp
//   protocol     "HTTP/1.1", "HTTP/1.0", "websocket" (a tunnel), "tcp"
//   status       the status the client got (101 for a tunnel); 0 when none was sent
//   side         "source" or "target"; null before a side was chosen
//   side_reason  why that side: "weight", "sticky", "force", "failover"
//   endpoint     the upstream endpoint of the last attempt ("host:port"); null when none
//   held_ms      time waiting in a write hold (ms, µs precision)
//   connect_ms   time connecting upstream, all attempts; 0 for a pooled connection
//   upstream_ms  from the request sent upstream to the response head (null without a response)
//   duration_ms  from `time` to the end of the response, connection or tunnel
//   bytes_in, bytes_out   payload bytes from and to the client (bodies; a tunnel's or tcp
//                connection's bytes); heads and chunk framing are not counted
//   retries      attempts after the first
//   result       how it ended: "response", or cutover's reason ("no_route", "hold_timeout",
//                "connect_failed", "bad_request", ...; exchange/outcome.hpp outcome_name())
//   mirror       whether a shadow copy was sent
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace cutover::observe {

struct AccessRecord {
  std::chrono::system_clock::time_point time{};
  std::string_view request_id;  // empty: null
  std::string_view trace_id;    // empty: null
  std::string_view client_ip;
  unsigned client_port = 0;
  std::string_view listener;
  std::string_view route;  // empty: null
  std::string_view method;  // empty: null
  std::string_view target;  // the request target as received; empty: null
  std::string_view protocol;
  unsigned status = 0;
  std::string_view side;         // empty: null
  std::string_view side_reason;  // empty: null
  std::string_view endpoint;     // empty: null
  double held_ms = 0;
  double connect_ms = 0;
  std::optional<double> upstream_ms;
  double duration_ms = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  int retries = 0;
  std::string_view result;
  bool mirror = false;
};

// A listener's line format, compiled from its access_log config.
struct AccessLogFormat {
  std::vector<std::uint8_t> fields;  // indexes into config::kAccessLogFields, in line order
  bool log_query = false;
};

// The format for `config` (every field, in the default order, when config.fields is empty).
// Unknown names cannot reach here: the loader refuses them.
AccessLogFormat compile_format(const config::AccessLogConfig& config);

// The record as one JSON object and a newline.
std::string to_json_line(const AccessRecord& record, const AccessLogFormat& format);

// The path part of a request target for the log: the query dropped unless `keep_query`, bytes
// outside printable ASCII (and '%' itself is left alone) percent-encoded.
std::string log_path(std::string_view target, bool keep_query);

// `time` as RFC 3339 UTC with microseconds ("2026-12-04T14:02:00.123456Z").
std::string rfc3339_micros(std::chrono::system_clock::time_point time);

// Milliseconds with microsecond precision between two steady instants.
inline double ms_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(to - from).count()) / 1000.0;
}

}  // namespace cutover::observe
