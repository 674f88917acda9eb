// The webhook gate of a ramp: before each step after the first, cutover POSTs
// {"route", "step", "weight"} to the ramp's URL and goes on only on a 2xx answer within the
// timeout. For checks cutover cannot see itself: replication lag, row-count checksums.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

namespace cutover::admin {

struct WebhookResult {
  bool ok = false;       // a 2xx answer arrived in time
  std::string detail;    // "HTTP 200", "HTTP 503: <first 200 bytes of body>", "timeout after 5000 ms", ...
};

// Starts the call on `io` (the control thread) and calls `done` there exactly once. `url` is an
// absolute http:// URL (validated by parse_ramp_spec); the whole exchange, name resolution
// included, is bounded by `timeout`.
void call_webhook(boost::asio::io_context& io, const std::string& url, const std::string& json_body,
                  std::chrono::milliseconds timeout, std::function<void(WebhookResult)> done);

}  // namespace cutover::admin
