// A downstream HTTP/2 connection (RFC 9113) over nghttp2: the frame layer, HPACK and flow control
// are nghttp2's; cutover owns the I/O (one reader and one writer coroutine on the worker's
// io_context) and runs every stream through the same exchange as an HTTP/1 request, as its
// Downstream, on an HTTP/1.1 upstream channel.
//
// Bounds: streams (limits.http2_max_concurrent_streams; more are refused), request body bytes
// buffered per stream and per connection (the flow-control windows we advertise,
// http2_stream_buffer and http2_connection_buffer: the client may not send more until the upstream
// took them), response bytes queued per stream and per connection (the same sizes: a stream waits
// for room), the header list (limits.max_header_bytes: 431), RST_STREAM frames per second
// (http2_max_resets_per_second: GOAWAY ENHANCE_YOUR_CALM), and an idle connection
// (timeouts.idle with no stream open: GOAWAY, close). A drain sends GOAWAY and lets the open
// streams finish.
#pragma once

#include <cstddef>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/exchange/downstream.hpp"
#include "proxy/exchange/worker_context.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/runtime/connection_set.hpp"

namespace cutover::h2 {

// The client connection preface's first line (RFC 9113 §3.4), by which a cleartext connection
// with prior knowledge is told from HTTP/1.1.
inline constexpr std::string_view kPrefaceStart = "PRI * HTTP/2.0\r\n";

// Whether `first_bytes` (at least 4 of a connection's first bytes) begin the preface.
constexpr bool starts_with_preface(std::string_view first_bytes) {
  const std::size_t n = first_bytes.size() < kPrefaceStart.size() ? first_bytes.size() : kPrefaceStart.size();
  return n >= 4 && first_bytes.substr(0, n) == kPrefaceStart.substr(0, n);
}

// Serves HTTP/2 on `stream` (connected, TLS handshake done) until the client closes, an error,
// GOAWAY, or the idle timeout. `received`: bytes already read from it (the preface, in cleartext).
// While it runs, `*drain_hook` points at what a drain calls (a graceful GOAWAY); null again on
// return. Never throws for network errors.
boost::asio::awaitable<void> serve(net::Stream& stream, boost::beast::flat_buffer& received,
                                   const exchange::ClientInfo& client, exchange::WorkerContext& worker,
                                   std::size_t listener_index, runtime::Drainable** drain_hook);

}  // namespace cutover::h2
